using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Warden.Core.Interop;
using Warden.Core.Ownership;
using Warden.Core.Terminals;

namespace Warden.Core.Workspaces;

/// <summary>
/// Creates and finds users' directories (where their home is mounted, see <see cref="UserHomes"/>) and their persistent host uids. The uid of a user is written once, next to the
/// home, under an exclusive lock on the allocation file: the same user always gets the same uid, and no two users
/// ever share one (allocation takes the highest uid in use plus one, within <see cref="TerminalOptions.UserUidBase"/>'s range).
/// </summary>
public sealed class UserWorkspaces
{
    private readonly TerminalOptions _options;
    private readonly string _root;
    private readonly Lock _lock = new();

    public UserWorkspaces(IOptions<WardenOptions> warden, IOptions<TerminalOptions> options)
    {
        ArgumentNullException.ThrowIfNull(warden);
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _root = RootOf(warden.Value, _options);
    }

    /// <summary>Where users' directories live: <see cref="TerminalOptions.HomesDir"/>, else <c>{StateDirectory}/users</c>.</summary>
    public static string RootOf(WardenOptions warden, TerminalOptions options)
    {
        ArgumentNullException.ThrowIfNull(warden);
        ArgumentNullException.ThrowIfNull(options);
        return string.IsNullOrEmpty(options.HomesDir) ? Path.Combine(warden.StateDirectory, "users") : Path.GetFullPath(options.HomesDir);
    }

    /// <summary>The directory holding every user's directory.</summary>
    public string Root => _root;

    /// <summary>
    /// The directory name of a principal's home. The server's own tenant keeps the plain hash of the user id (homes made
    /// before keys were tenants stay where they are); another tenant's users are hashed with the tenant, separated by a
    /// newline, which no user id or tenant contains (<see cref="Principal"/>), so no two principals share a home.
    /// </summary>
    /// <remarks>
    /// A policy's terminal (<paramref name="policyId"/>) is another home: the policy id, a newline and the whole principal,
    /// hashed. Policy ids have no newline (the API refuses them), so no policy's home is a plain user's or another policy's.
    /// </remarks>
    public static string KeyOf(Principal owner, string? policyId = null)
    {
        ArgumentNullException.ThrowIfNull(owner);
        var name = owner.Tenant == Principal.ServerTenant ? owner.User : owner.Tenant + "\n" + owner.User;
        if (policyId is not null) name = "policy\n" + policyId + "\n" + owner.Tenant + "\n" + owner.User;
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..32];
    }

    /// <summary>The directory name of the home a policy's users share (<see cref="TerminalPolicy.SharedHome"/>). The hashed
    /// text starts with a line no user id can be (user ids have no newline), so it is never a user's own home.</summary>
    public static string SharedHomeKeyOf(string policyId)
    {
        ArgumentNullException.ThrowIfNull(policyId);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("shared home\n" + policyId)))[..32];
    }

    /// <summary>What replicas route a terminal request by: the home it mounts (a shared home's users are served together).</summary>
    public static string RoutingKeyOf(Principal owner, TerminalPolicy? policy) =>
        policy is { SharedHome: true } ? SharedHomeKeyOf(policy.Id) : KeyOf(owner, policy?.Id);

    /// <summary>The principal's workspace, created (home, uid) on first use. Under a policy with a shared home the uid is
    /// still the user's own (its file in the user's directory), and the home and its group id are the policy's.</summary>
    public UserWorkspace Open(Principal owner, TerminalPolicy? policy = null)
    {
        ArgumentNullException.ThrowIfNull(owner);
        var key = KeyOf(owner, policy?.Id);
        var userDir = Path.Combine(_root, key);
        var homeKey = policy is { SharedHome: true } ? SharedHomeKeyOf(policy.Id) : key;
        var homeDir = Path.Combine(_root, homeKey);
        var home = Path.Combine(homeDir, "home");
        lock (_lock)
        {
            // The root and each user directory are traversable but not listable (0711): the sandbox's helper, running as
            // the user's uid, must reach its own home to bind it; it cannot list who else has one.
            EnsureDirectory(_root, "711");
            EnsureDirectory(userDir, "711");
            int uid = ReadOrAllocateUid(userDir);
            // A shared home's id comes from the users' range: no user's uid is ever the group that opens the home.
            int? sharedGid = null;
            if (homeKey != key)
            {
                EnsureDirectory(homeDir, "711");
                sharedGid = ReadOrAllocateUid(homeDir);
            }
            // The home is a mount point (see UserHomes): while nothing is mounted on it, an empty directory only root can
            // enter. An existing one is left alone: it may be an older version's plain home, which UserHomes migrates.
            if (!Directory.Exists(home))
            {
                Directory.CreateDirectory(home);
                Libc.chmod(home, Convert.ToInt32("700", 8));
            }
            return new UserWorkspace(owner, key, uid, home) { HomeMegabytes = policy?.HomeMegabytes, HomeKey = homeKey, SharedGid = sharedGid };
        }
    }

    private int ReadOrAllocateUid(string userDir)
    {
        var uidFile = Path.Combine(userDir, "uid");
        if (File.Exists(uidFile)) return int.Parse(File.ReadAllText(uidFile).Trim(), CultureInfo.InvariantCulture);
        // Serialise allocation across Warden processes sharing the state directory (the kernel drops the lock if we die).
        using var allocation = new FileStream(Path.Combine(_root, "uid-allocation.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        if (File.Exists(uidFile)) return int.Parse(File.ReadAllText(uidFile).Trim(), CultureInfo.InvariantCulture);
        int highest = _options.UserUidBase - 1;
        foreach (var dir in Directory.EnumerateDirectories(_root))
        {
            var other = Path.Combine(dir, "uid");
            if (File.Exists(other) && int.TryParse(File.ReadAllText(other).Trim(), CultureInfo.InvariantCulture, out var used)) highest = Math.Max(highest, used);
        }
        int uid = highest + 1;
        if (uid >= _options.UserUidBase + _options.UserUidCount)
            throw new Execution.CapacityExceededException($"Every user uid in {_options.UserUidBase}..{_options.UserUidBase + _options.UserUidCount - 1} " +
                "already belongs to a user: no new user's home can be made (Warden:Terminal:UserUidBase and UserUidCount set the range).", TimeSpan.FromMinutes(5));
        var staging = uidFile + ".tmp";
        File.WriteAllText(staging, uid.ToString(CultureInfo.InvariantCulture));
        File.Move(staging, uidFile, overwrite: false);
        return uid;
    }

    private static void EnsureDirectory(string path, string mode)
    {
        Directory.CreateDirectory(path);
        Libc.chmod(path, Convert.ToInt32(mode, 8));
    }
}
