using System.Globalization;
using Warden.Core.Execution;
using Warden.Core.Languages;
using Warden.Core.Limits;
using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Slots;

namespace Warden.Core.Pool;

/// <summary>How a language's warm sandbox is started, and the go-message that turns it into one request's run.</summary>
internal static class WarmRecipes
{
    /// <summary>
    /// The recipe, or null when the language cannot be warmed: compiled, no stub, or a run command whose main file is
    /// not a whole argument followed only by the request's args.
    /// </summary>
    public static WarmRecipe? For(InstalledLanguage language, ResourceLimits idleLimits, string workspace)
    {
        if (language.Definition.IsCompiled || LanguageStubs.For(language.Name) is not { } stub) return null;
        var run = language.Definition.Run;
        int main = run.ToList().IndexOf("{main}");
        if (main < 0 || main != run.Count - 1 || run.Take(main).Any(t => t.Contains("{main}", StringComparison.Ordinal))) return null;
        var prefix = language.Expand(run.Take(main).ToList(), workspace, language.Definition.MainFileName);
        var argv = prefix.Concat(stub).ToArray();
        return new WarmRecipe(language.Name, new SandboxCommand(argv, SandboxEnvironment.For(language, compile: false), []), idleLimits, main);
    }

    /// <summary>
    /// The go-message for <paramref name="command"/>, the cold run command of the request: "BYTES FIELDS\n", then the
    /// NUL-terminated fields (see <see cref="LanguageStubs"/>). The interpreter, its flags
    /// and the environment are fixed when the sandbox starts, so a command that differs in them cannot run warm.
    /// </summary>
    public static byte[] GoMessage(WarmRecipe recipe, SandboxCommand command)
    {
        var stub = recipe.Stub;
        if (command.Argv.Count <= recipe.MainIndex || !command.Argv.Take(recipe.MainIndex).SequenceEqual(stub.Argv.Take(recipe.MainIndex))
            || command.Environment.Count != stub.Environment.Count
            || command.Environment.Any(kv => !stub.Environment.TryGetValue(kv.Key, out var v) || v != kv.Value))
            throw new InvalidOperationException($"The command does not match the {recipe.Language} warm sandbox's interpreter or environment.");
        string[] fields = [recipe.MainIndex.ToString(CultureInfo.InvariantCulture), .. command.Argv];
        var body = SlotRun.Encode(fields);
        var header = System.Text.Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{body.Length} {fields.Length}\n"));
        return [.. header, .. body];
    }
}
