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
    };

    private static byte[] Load(string name)
    {
        using var stream = typeof(TerminalAgentFiles).Assembly.GetManifestResourceStream("Warden.Core.Terminals." + name)
            ?? throw new InvalidOperationException($"Embedded resource {name} is missing.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
