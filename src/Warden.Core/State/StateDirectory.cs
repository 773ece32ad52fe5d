using System.Globalization;
using Microsoft.Extensions.Logging;
using Warden.Core.Configuration;
using Warden.Core.Interop;
using Warden.Core.Sandboxing;

namespace Warden.Core.State;

/// <summary>
/// Warden's state directory (<c>Warden:StateDirectory</c>) and the directories Warden makes in it, with the modes the
/// design needs set explicitly: the process umask decides nothing. Under <c>umask 077</c>, or in a directory an operator
/// created 0700, sandboxes used to fail at every run (bwrap, running as the slot's uid, could not reach the sandbox's
/// /etc) while start-up succeeded.
/// </summary>
/// <remarks>
/// As root every sandbox runs under a host uid of its own, and its helper and bwrap, running as that uid, must pass
/// through the state directory to the sandbox's /etc and workspace: the state directory is 0711 (traversable, not
/// listable; everything private in it is 0600 or 0700 itself), and so must every directory above it be traversable.
/// Without root every sandbox runs as the service's own uid, and the state directory is 0700. A directory Warden
/// cannot give that mode (another owner, a read-only file system) or that sandboxes cannot reach (a parent without
/// o+x) stops start-up with its name and the mode it needs.
/// </remarks>
public static partial class StateDirectory
{
    private const string Setting = "Warden:StateDirectory (WARDEN_STATE_DIR)";

    /// <summary>The mode of the state directory and of its directories sandboxes pass through (run/, run/{instance}).</summary>
    public static int TraversableMode => SandboxesHaveOwnUids ? Convert.ToInt32("711", 8) : Convert.ToInt32("700", 8);

    /// <summary>Owner only: uid locks and the like.</summary>
    public static int PrivateMode { get; } = Convert.ToInt32("700", 8);

    private static int ParentMode { get; } = Convert.ToInt32("755", 8);

    private static bool SandboxesHaveOwnUids => Libc.geteuid() == 0;

    /// <summary>
    /// Creates the state directory (and missing parents, 0755) or checks the existing one, and gives it
    /// <see cref="TraversableMode"/>. Returns its real path (symbolic links resolved).
    /// </summary>
    /// <exception cref="InvalidConfigurationException">The directory cannot be given its mode or cannot be reached by
    /// sandboxes; the message names the directory and the mode.</exception>
    /// <param name="changes">Receives each mode Warden changed (for the caller's log).</param>
    public static string Prepare(string path, ICollection<ModeChange>? changes = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        try
        {
            CreateMissingParents(full);
            if (FileStatus.OfPath(full) is null) CreateOne(full, TraversableMode);
            var real = FileStatus.RealPath(full) ?? throw new IOException($"{full} vanished while it was being prepared");
            if (Unreachable(real) is { } problem) throw new InvalidConfigurationException(Setting, problem);
            if (EnsureMode(real, TraversableMode) is { } change) changes?.Add(change);
            return real;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidConfigurationException(Setting,
                $"{full} cannot be prepared as Warden's state directory (it needs mode {Octal(TraversableMode)}, owned by uid {Libc.geteuid()}): {e.Message}");
        }
    }

    /// <summary>
    /// A directory Warden keeps inside the state directory: created when missing; an existing one must be a directory
    /// (not a link) owned by the service, and gets exactly <paramref name="mode"/>.
    /// </summary>
    /// <returns>The mode it had, when Warden changed it (an existing directory), else null.</returns>
    public static ModeChange? EnsureDirectory(string path, int mode)
    {
        try
        {
            if (FileStatus.OfPath(path) is null)
            {
                CreateOne(path, mode);
                return null;
            }
            return EnsureMode(path, mode);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidConfigurationException(Setting, $"{path} cannot be made Warden's own directory, mode {Octal(mode)}: {e.Message}");
        }
    }

    /// <summary>For <c>warden doctor</c>: what <see cref="Prepare"/> would do or refuse, without changing anything.</summary>
    public static ProbeCheck Inspect(string path)
    {
        const string Name = "state directory";
        var full = Path.GetFullPath(path);
        var wanted = Octal(TraversableMode);
        var existing = full;
        while (FileStatus.OfPath(existing) is null && Path.GetDirectoryName(existing) is { } parent) existing = parent;
        var real = FileStatus.RealPath(existing) ?? existing;
        if (existing != full)
        {
            var problem = Unreachable(Path.Combine(real, Path.GetRelativePath(existing, full)), stopAt: real, includeLast: true);
            return problem is null
                ? new(Name, true, $"{full} does not exist yet; created mode {wanted} at start")
                : new(Name, false, problem, $"chmod o+x the directory named, or set {Setting} elsewhere");
        }
        if (Unreachable(real) is { } unreachable) return new(Name, false, unreachable, $"chmod o+x the directory named, or set {Setting} elsewhere");
        var status = FileStatus.OfPath(real)!.Value;
        if (!status.IsDirectory) return new(Name, false, $"{real} is not a directory", $"set {Setting} to a directory");
        if (status.Uid != Libc.geteuid())
            return new(Name, false, $"{real} belongs to uid {status.Uid}, not to the service (uid {Libc.geteuid()})",
                $"chown {Libc.geteuid()} {real}, or set {Setting} to a directory of the service's own");
        return status.Permissions == TraversableMode
            ? new(Name, true, $"{real} (mode {wanted})")
            : new(Name, true, $"{real} is mode {Octal(status.Permissions)}; Warden sets {wanted} at start");
    }

    public static string Octal(int mode) => "0" + Convert.ToString(mode, 8).PadLeft(3, '0');

    private static void CreateMissingParents(string full)
    {
        var missing = new Stack<string>();
        for (var dir = Path.GetDirectoryName(full); dir is not null && FileStatus.OfPath(dir) is null; dir = Path.GetDirectoryName(dir)) missing.Push(dir);
        while (missing.TryPop(out var dir)) CreateOne(dir, ParentMode);
    }

    /// <summary>mkdir, then chmod: <c>mkdir</c>'s own mode is cut by the umask.</summary>
    private static void CreateOne(string path, int mode)
    {
        try { Directory.CreateDirectory(path); }
        catch (IOException) when (FileStatus.OfPath(path) is not null) { } // made by someone else meanwhile: checked next
        EnsureMode(path, mode);
    }

    /// <summary>Checks the directory on its open descriptor (no link followed, no check-then-use) and sets its mode.</summary>
    private static ModeChange? EnsureMode(string path, int mode)
    {
        using var handle = FileStatus.Open(path, Libc.O_RDONLY | FileStatus.O_DIRECTORY);
        var status = FileStatus.OfHandle(handle, path);
        if (status.Uid != Libc.geteuid())
            throw new InvalidConfigurationException(Setting, $"{path} belongs to uid {status.Uid}, not to the service (uid {Libc.geteuid()}): " +
                $"Warden needs it as its own, mode {Octal(mode)} (chown {Libc.geteuid()} {path}, or choose another state directory).");
        if (status.Permissions == mode) return null;
        FileStatus.SetMode(handle, mode, path);
        return new ModeChange(path, status.Permissions, mode);
    }

    /// <summary>Logs a mode Warden changed: an operator may want to know (a directory made 0700 by hand is now 0711).</summary>
    public static void Report(ILogger logger, ModeChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        Log.ModeSet(logger, change.Path, Octal(change.Was), Octal(change.Now));
    }

    /// <summary>
    /// Why a sandbox's uid could not reach <paramref name="real"/>, or anybody could replace it: a directory above it
    /// without o+x (only matters when sandboxes have uids of their own), or writable by others without the sticky bit.
    /// </summary>
    private static string? Unreachable(string real, string? stopAt = null, bool includeLast = false)
    {
        var dirs = new List<string>();
        for (var dir = includeLast ? real : Path.GetDirectoryName(real); dir is not null; dir = Path.GetDirectoryName(dir)) dirs.Add(dir);
        foreach (var dir in Enumerable.Reverse(dirs))
        {
            if (stopAt is not null && dir.Length > stopAt.Length) break;
            if (FileStatus.OfPath(dir) is not { } status) continue;
            int permissions = status.Permissions;
            if (SandboxesHaveOwnUids && (permissions & 1) == 0)
                return string.Create(CultureInfo.InvariantCulture,
                    $"{dir} is mode {Octal(permissions)}: sandboxes run under uids of their own and must pass through it to {real} (it needs o+x, e.g. chmod {Octal(permissions | 1)} {dir}).");
            bool sticky = (permissions & Convert.ToInt32("1000", 8)) != 0;
            if ((permissions & 2) != 0 && !sticky)
                return string.Create(CultureInfo.InvariantCulture,
                    $"{dir} is mode {Octal(permissions)}, writable by others without the sticky bit: another user could replace {real} (chmod go-w {dir}).");
        }
        return null;
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.StateModeSet, LogLevel.Warning, "{Path} was mode {Was}; set to {Mode}, the mode Warden needs for it")]
        public static partial void ModeSet(ILogger logger, string path, string was, string mode);
    }
}

/// <summary>A directory whose mode Warden changed at start-up.</summary>
public sealed record ModeChange(string Path, int Was, int Now);
