using System.CommandLine;
using Microsoft.Extensions.Options;
using Warden.Core;
using Warden.Core.Execution;
using Warden.Core.Languages;
using Warden.Core.Sandboxing;
using Warden.Core.State;
using Warden.Core.Workspaces;

namespace Warden.Cli.Commands;

/// <summary>
/// <c>warden doctor [--backend NAME]</c>: checks every prerequisite and prints the exact fix for each failure, then starts
/// a tiny program in a real sandbox the way the server does: prerequisites can all pass while sandboxes still fail.
/// </summary>
internal static class DoctorCommand
{
    public static Command Create()
    {
        var backend = CommonOptions.Backend();
        var config = CommonOptions.Config();
        var command = new Command("doctor", "Check that this host can run the chosen backend, and how to fix what is missing.") { backend, config };
        command.SetAction(async (parse, _) =>
        {
            var overrides = new Dictionary<string, string?>();
            if (parse.GetValue(backend) is { } b) overrides["Warden:Backend"] = b;
            try
            {
                await using var host = EngineHost.Create(parse.GetValue(config), overrides);
                var selector = host.Get<BackendSelector>();
                var chosen = selector.Selected;
                Console.WriteLine($"Warden doctor — backend '{chosen.Name}'");
                var probe = chosen.Probe();
                var stateDirectory = host.Get<IOptions<WardenOptions>>().Value.StateDirectory;
                probe = probe with { Checks = [.. probe.Checks, StateDirectory.Inspect(stateDirectory)] };
                // Only worth trying when nothing it needs is known to be missing.
                if (probe.CanRun) probe = probe with { Checks = [.. probe.Checks, await SandboxStartAsync(parse.GetValue(config), overrides, stateDirectory)] };
                foreach (var check in probe.Checks) Print(check);
                // The Open Terminal's users' homes: bounded filesystems (an ext4 image per user, or tmpfs), see docs/open-terminal.md.
                var homes = await host.Get<UserHomes>().ProbeAsync(CancellationToken.None);
                foreach (var check in homes) Print(check);
                var catalog = host.Get<LanguageCatalog>();
                foreach (var definition in catalog.All)
                {
                    var installed = catalog.Installed.FirstOrDefault(l => l.Name == definition.Name);
                    Console.WriteLine(installed is null
                        ? $"- {definition.Name}: not installed ({string.Join(" or ", definition.Binaries)} missing)"
                        : $"✔ {definition.Name}: {installed.Binary} {catalog.GetVersion(installed)}");
                }
                Console.WriteLine(probe.CanRun
                    ? probe.Degraded ? "The backend can run, DEGRADED (see '!' above; needs WARDEN_ALLOW_DEGRADED=true)." : "The backend can run."
                    : "The backend cannot run on this host: fix the ✘ items above.");
                if (homes.Any(c => !c.Ok && c.Required)) Console.WriteLine("Open Terminal users' homes cannot be made: the terminal API answers 503 (fix the ✘ items above).");
                return probe.CanRun && !probe.Degraded && homes.All(c => c.Ok || !c.Required) ? 0 : 1;
            }
            catch (OptionsValidationException e)
            {
                await Console.Error.WriteLineAsync($"warden doctor: invalid configuration: {string.Join("; ", e.Failures)}");
                return 2;
            }
        });
        return command;
    }

    private static void Print(ProbeCheck check)
    {
        var mark = check.Ok ? "✔" : check.Required ? "✘" : "!";
        Console.WriteLine($"{mark} {check.Name}: {check.Detail}");
        if (!check.Ok && check.Fix is not null) Console.WriteLine($"    fix: {check.Fix}");
    }

    /// <summary>
    /// The engine started as the server starts it, and one program run in a real sandbox. A state directory held by a
    /// running server is left alone: the check then runs in a temporary state directory of its own (and says so).
    /// </summary>
    private static async Task<ProbeCheck> SandboxStartAsync(string? configFile, Dictionary<string, string?> overrides, string stateDirectory)
    {
        const string Name = "sandbox start";
        var settings = new Dictionary<string, string?>(overrides) { ["Warden:MaxConcurrent"] = "1", ["Warden:Pool:Enabled"] = "false" };
        string? temporary = null;
        try
        {
            try
            {
                return await RunCheckAsync(configFile, settings);
            }
            catch (StateDirectoryInUseException e)
            {
                temporary = Directory.CreateTempSubdirectory("warden-doctor-").FullName;
                settings["Warden:StateDirectory"] = temporary;
                var check = await RunCheckAsync(configFile, settings);
                return check with { Detail = $"{check.Detail} (in a temporary state directory: {stateDirectory} is in use by pid {e.HolderPid?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"})" };
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or TimeoutException)
        {
            return new(Name, false, e.Message, "the message names what to change");
        }
        finally
        {
            if (temporary is not null) try { Directory.Delete(temporary, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task<ProbeCheck> RunCheckAsync(string? configFile, Dictionary<string, string?> settings)
    {
        await using var host = EngineHost.Create(configFile, settings);
        var engine = host.Get<ExecutionEngine>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await engine.StartAsync(timeout.Token);
        var result = await engine.CheckSandboxAsync(timeout.Token) ?? throw new TimeoutException("no sandbox slot was free");
        return result.Ok
            ? new("sandbox start", true, $"{result.Detail} ({result.Milliseconds:0} ms)")
            : new("sandbox start", false, result.Detail, result.Detail.Contains("Permission denied", StringComparison.Ordinal)
                ? "the sandbox's uid cannot reach a path it needs: check the modes of the path named and of every directory above it"
                : "the error above is the sandbox's own; `warden run` of any program shows the same");
    }
}
