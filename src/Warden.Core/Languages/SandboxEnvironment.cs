namespace Warden.Core.Languages;

/// <summary>
/// The environment every sandboxed program starts with, built from scratch: nothing of the service's environment leaks
/// in. Languages add their own variables on top (catalog <c>env</c>, <c>compileEnv</c>).
/// </summary>
public static class SandboxEnvironment
{
    public static Dictionary<string, string> For(InstalledLanguage language, bool compile = false)
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
