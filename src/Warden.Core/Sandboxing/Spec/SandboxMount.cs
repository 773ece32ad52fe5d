namespace Warden.Core.Sandboxing.Spec;

/// <summary>One mount of the sandbox, at <see cref="Target"/> inside it.</summary>
internal abstract record SandboxMount(string Target);

/// <summary>A host path bound read-only (nosuid, nodev). <paramref name="IfPresent"/>: skipped when the host lacks it.</summary>
internal sealed record ReadOnlyBind(string Source, string Target, bool IfPresent = false) : SandboxMount(Target);

/// <summary>A host path bound read-write (the exit report FIFO). <paramref name="NoExec"/>: nothing under it may be executed.</summary>
internal sealed record WritableBind(string Source, string Target, bool NoExec = false) : SandboxMount(Target);

/// <summary>
/// The program's writable workspace (also its working directory and home). <paramref name="Source"/> is what the host
/// calls it: a directory for bwrap and gVisor (the slot's size-capped tmpfs, or a persistent home), a volume name for
/// Docker. <paramref name="SizeBytes"/> is set when the backend must create the workspace itself (Docker's tmpfs
/// volume); null when the host side already sized it (SlotPool's tmpfs, a home's quota).
/// </summary>
internal sealed record WorkspaceMount(string Source, string Target, long? SizeBytes = null) : SandboxMount(Target);

/// <summary>A size-capped tmpfs (/tmp) holding at most <paramref name="Inodes"/> files.</summary>
internal sealed record TmpfsMount(string Target, long SizeBytes, long Inodes, UnixFileMode Mode) : SandboxMount(Target);

/// <summary>A procfs of the sandbox's pid namespace.</summary>
internal sealed record ProcMount(string Target) : SandboxMount(Target);

/// <summary>A minimal /dev: null, zero, full, random, urandom, tty, pts, shm. Never a host device node beyond those.</summary>
internal sealed record DevMount(string Target) : SandboxMount(Target);

/// <summary>A symbolic link at <see cref="SandboxMount.Target"/> pointing to <paramref name="LinkTarget"/> (/bin → usr/bin).</summary>
internal sealed record SymlinkMount(string LinkTarget, string Target) : SandboxMount(Target);

/// <summary>The sandbox's root filesystem, always read-only.</summary>
internal abstract record SandboxRoot;

/// <summary>An empty root the isolation tool builds (bwrap's tmpfs), made read-only once every mount point exists.</summary>
internal sealed record BuiltRoot : SandboxRoot;

/// <summary>A prepared host directory holding only mount points and links (gVisor's skeleton rootfs).</summary>
internal sealed record DirectoryRoot(string Path) : SandboxRoot;

/// <summary>A container image's filesystem (Docker).</summary>
internal sealed record ImageRoot(string Image) : SandboxRoot;

/// <summary>
/// What every sandbox of a backend instance shares, prepared once at start-up (BwrapLayout, GvisorLayout, the Docker
/// image): the root and the read-only mounts that make the system's programs visible.
/// </summary>
internal sealed record SandboxBase(SandboxRoot Root, IReadOnlyList<SandboxMount> Mounts);
