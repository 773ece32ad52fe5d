using Warden.Core.Languages;

namespace Warden.Core.Execution;

/// <summary>The environment every program of a language starts with (cold, or a warm sandbox's stub ahead of time).</summary>
internal static class SandboxEnvironment
{
    public static Dictionary<string, string> For(InstalledLanguage language, bool compile)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = "/usr/local/bin:/usr/bin:/bin",
            ["HOME"] = "/sandbox",
            ["USER"] = "sandbox",
            ["LANG"] = "C.UTF-8",
            ["LC_ALL"] = "C.UTF-8",
            ["TMPDIR"] = "/tmp",
        };
        foreach (var (k, v) in language.Definition.Env) env[k] = v;
        if (compile) foreach (var (k, v) in language.Definition.CompileEnv) env[k] = v;
        return env;
    }
}
