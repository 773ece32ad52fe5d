namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>Configuration section <c>Warden:Bubblewrap</c>.</summary>
public sealed class BubblewrapOptions
{
    public const string Section = "Warden:Bubblewrap";

    public string BwrapPath { get; set; } = "/usr/bin/bwrap";
}
