using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>The files and binds every bwrap sandbox shares, prepared once per instance.</summary>
/// <param name="EtcDirectory">The prepared /etc (see <see cref="SandboxEtc"/>), bound read-only as one mount.</param>
/// <param name="ReadOnlyPathsIfPresent">Other small host paths, outside /etc, bound read-only when they exist.</param>
internal sealed record BwrapLayout(
    string EtcDirectory,
    IReadOnlyList<string> ReadOnlyDirectories,
    IReadOnlyList<(string Target, string Link)> Symlinks,
    IReadOnlyList<string> ReadOnlyPathsIfPresent)
{
    /// <summary>The layout as the spec's shared part: bwrap builds an empty root and binds the system into it.</summary>
    public SandboxBase Base() => new(new BuiltRoot(), [
        .. ReadOnlyDirectories.Select(dir => new ReadOnlyBind(dir, dir)),
        .. Symlinks.Select(link => new SymlinkMount(link.Target, link.Link)),
        new ReadOnlyBind(EtcDirectory, "/etc"),
        .. ReadOnlyPathsIfPresent.Select(path => new ReadOnlyBind(path, path, IfPresent: true)),
    ]);
}
