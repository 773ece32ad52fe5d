using System.Security.Cryptography;
using Warden.Core.Interop;
using Warden.Core.Sandboxing.Slots;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>Long-lived session sandboxes: each gets a slot created for it and destroyed with it.</summary>
public sealed partial class BubblewrapBackend
{
    private readonly HashSet<BwrapSessionSandbox> _sessions = [];
    private readonly Lock _supportLock = new();

    public async ValueTask<ISessionSandbox> StartSessionAsync(SessionSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        EnsureStarted();
        var support = new List<ReadOnlyBind>();
        if (spec.SupportFiles.Count > 0) support.Add(new ReadOnlyBind(SupportDirectory(spec.SupportFiles), spec.SupportDirectory));

        var slot = _pool.CreateSlot("session-" + spec.Name, spec.Workspace);
        BwrapSessionSandbox? sandbox = null;
        try
        {
            slot.ResetWorkspace();
            slot.Cgroup?.Apply(spec.Limits);
            var helper = await _pool.ParkAsync(slot).ConfigureAwait(false);
            sandbox = new BwrapSessionSandbox(this, slot, helper);
            lock (_sessions) _sessions.Add(sandbox);
            var sandboxSpec = Spec(slot, spec.Limits, spec.Command, support, spec.Workspace?.SandboxPath ?? SandboxSpecBuilder.DefaultWorkspace);
            await helper.LaunchAsync(SlotRun.Encode(ControlFields(sandboxSpec))).ConfigureAwait(false);
            return sandbox;
        }
        catch
        {
            // Never leave a half-built sandbox: the session sandbox owns the slot once it exists.
            if (sandbox is not null) await sandbox.DisposeAsync().ConfigureAwait(false);
            else await slot.DestroyAsync().ConfigureAwait(false);
            throw;
        }
    }

    internal void ForgetSession(BwrapSessionSandbox sandbox)
    {
        lock (_sessions) _sessions.Remove(sandbox);
    }

    /// <summary>Session sandboxes still alive at shutdown: destroyed before the instance's cgroups and run directory.</summary>
    private async Task DisposeSessionsAsync()
    {
        BwrapSessionSandbox[] alive;
        lock (_sessions) alive = [.. _sessions];
        foreach (var sandbox in alive) await sandbox.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Writes support files once per content into the run directory (readable by every slot uid, writable by none)
    /// and returns the directory to bind read-only.
    /// </summary>
    private string SupportDirectory(IReadOnlyDictionary<string, byte[]> files)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, content) in files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(name + "\0"));
            hash.AppendData(content);
        }
        var directory = Path.Combine(_pool.RunDirectory, "support", Convert.ToHexStringLower(hash.GetHashAndReset())[..16]);
        lock (_supportLock)
        {
            if (Directory.Exists(directory)) return directory;
            var staging = directory + ".tmp";
            Directory.CreateDirectory(staging);
            foreach (var (name, content) in files)
            {
                if (name.Contains('/', StringComparison.Ordinal) || name.StartsWith('.')) throw new ArgumentException($"Bad support file name '{name}'.");
                var path = Path.Combine(staging, name);
                File.WriteAllBytes(path, content);
                Libc.chmod(path, Convert.ToInt32("644", 8));
            }
            // Bound read-only into the sandbox; the modes only let a slot uid read them.
            Libc.chmod(staging, Convert.ToInt32("755", 8));
            Libc.chmod(Path.GetDirectoryName(staging)!, Convert.ToInt32("755", 8));
            Directory.Move(staging, directory);
            return directory;
        }
    }
}
