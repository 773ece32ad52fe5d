using System.Collections.Frozen;
using Warden.Core.Execution;
using Warden.Core.Languages;

namespace Warden.Core.Sessions;

/// <summary>The kernels this host can run: a built-in driver for each installed language that has one.</summary>
public sealed class KernelCatalog
{
    private readonly FrozenDictionary<string, KernelDefinition> _byName;

    public KernelCatalog(LanguageCatalog languages)
    {
        ArgumentNullException.ThrowIfNull(languages);
        var kernels = new List<KernelDefinition>();
        foreach (var language in languages.Installed)
        {
            var kernel = Define(language, languages);
            if (kernel is not null) kernels.Add(kernel);
        }
        All = kernels;
        var byName = new Dictionary<string, KernelDefinition>(StringComparer.OrdinalIgnoreCase);
        foreach (var k in kernels)
            foreach (var name in k.Aliases.Append(k.Language).Append(k.KernelName)) byName.TryAdd(name, k);
        _byName = byName.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
    }

    public IReadOnlyList<KernelDefinition> All { get; }

    /// <summary>The default kernel: Python when installed (what Jupyter clients expect when they name none).</summary>
    public KernelDefinition? Default => All.FirstOrDefault(k => k.Language == "python") ?? (All.Count > 0 ? All[0] : null);

    /// <summary>By language, alias or kernelspec name; null or empty means <see cref="Default"/>.</summary>
    public KernelDefinition Resolve(string? name)
    {
        if (string.IsNullOrWhiteSpace(name) && Default is { } fallback) return fallback;
        if (name is not null && _byName.TryGetValue(name, out var kernel)) return kernel;
        throw new UnknownLanguageException(name ?? "", All.Select(k => k.Language));
    }

    private static KernelDefinition? Define(InstalledLanguage language, LanguageCatalog languages)
    {
        var env = SandboxEnvironment.For(language);
        string Version() => languages.GetVersion(language);
        const string dir = KernelDefinition.SupportDirectory;
        switch (language.Name)
        {
            case "python":
                env["MPLBACKEND"] = "module://warden_mpl";
                env["PYTHONDONTWRITEBYTECODE"] = "1";
                return new KernelDefinition
                {
                    Language = "python", KernelName = "python3", Aliases = ["py", "python3", "ipython"], DisplayName = "Python 3 (Warden)",
                    FileExtension = ".py", Mimetype = "text/x-python", PygmentsLexer = "ipython3", CodeMirrorMode = "python",
                    Version = Version(),
                    Argv = [language.Binary, "-I", "-B", "-c",
                        $"import sys; sys.path.insert(0, '{dir}'); import warden_kernel; warden_kernel.main()"],
                    Environment = env,
                    SupportFiles = Resources("warden_kernel.py", "warden_mpl.py"),
                };
            case "javascript":
                // sh moves the protocol to fds 3/4 and fd 1 onto fd 2 before node starts (see warden_kernel.js).
                return new KernelDefinition
                {
                    Language = "javascript", KernelName = "javascript", Aliases = ["js", "node", "nodejs"], DisplayName = "JavaScript (Node.js, Warden)",
                    FileExtension = ".js", Mimetype = "application/javascript", PygmentsLexer = "javascript", CodeMirrorMode = "javascript",
                    Version = Version(),
                    Argv = ["/bin/sh", "-c", $"exec \"$0\" {dir}/warden_kernel.js 3<&0 4>&1 0</dev/null 1>&2", language.Binary],
                    Environment = env,
                    SupportFiles = Resources("warden_kernel.js"),
                };
            case "bash":
                // The bash driver is a small Python program (it shares the Python driver's protocol code).
                if (languages.Installed.FirstOrDefault(l => l.Name == "python") is not { } python) return null;
                return new KernelDefinition
                {
                    Language = "bash", KernelName = "bash", Aliases = ["shell"], DisplayName = "Bash (Warden)",
                    FileExtension = ".sh", Mimetype = "text/x-sh", PygmentsLexer = "bash", CodeMirrorMode = "shell",
                    Version = Version(),
                    Argv = [python.Binary, "-I", "-B", $"{dir}/warden_bash.py"],
                    Environment = env,
                    SupportFiles = Resources("warden_kernel.py", "warden_bash.py"),
                };
            default:
                return null;
        }
    }

    private static Dictionary<string, byte[]> Resources(params string[] names)
    {
        var assembly = typeof(KernelCatalog).Assembly;
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            using var stream = assembly.GetManifestResourceStream("Warden.Core.Kernels." + name)
                ?? throw new InvalidOperationException($"Kernel driver resource {name} is missing from the build.");
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            files[name] = buffer.ToArray();
        }
        return files;
    }
}
