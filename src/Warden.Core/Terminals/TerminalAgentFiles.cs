namespace Warden.Core.Terminals;

/// <summary>The agent script, embedded in the assembly and bound read-only into every user's sandbox.</summary>
internal static class TerminalAgentFiles
{
    public const string SupportDirectory = "/opt/warden";
    public const string AgentFile = "warden_terminal.py";
    public const string UiFile = "warden_terminal_ui.py";

    public static readonly IReadOnlyDictionary<string, byte[]> SupportFiles = new Dictionary<string, byte[]>
    {
        [AgentFile] = Load(AgentFile),
        [UiFile] = Load(UiFile),
        // Notebooks: the agent starts Warden's own Python kernel driver (and its matplotlib backend) as its child.
        ["warden_notebooks.py"] = Load("warden_notebooks.py"),
        ["warden_kernel.py"] = Load("warden_kernel.py", "Warden.Core.Kernels."),
        ["warden_mpl.py"] = Load("warden_mpl.py", "Warden.Core.Kernels."),
    };

    private static byte[] Load(string name, string prefix = "Warden.Core.Terminals.")
    {
        using var stream = typeof(TerminalAgentFiles).Assembly.GetManifestResourceStream(prefix + name)
            ?? throw new InvalidOperationException($"Embedded resource {name} is missing.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
