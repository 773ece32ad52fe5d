using System.Diagnostics;
using Warden.Core.Configuration;
using Warden.Core.Interop;
using Warden.Core.State;

namespace Warden.Core.Tests.State;

/// <summary>
/// The state directory gets the modes sandboxes need from Warden itself, or start-up stops naming the directory and
/// the mode. As root (CI, these machines) sandboxes run under uids of their own: 0711, and every directory above it
/// must be traversable.
/// </summary>
public sealed class StateDirectoryTests : IDisposable
{
    private static readonly int Mode0700 = Convert.ToInt32("700", 8), Mode0711 = Convert.ToInt32("711", 8), Mode0755 = Convert.ToInt32("755", 8);

    private readonly string _root = TestRoot();

    /// <summary>A temporary directory sandboxes could pass through (the temp default, 0700, is refused: a test of its own).</summary>
    private static string TestRoot()
    {
        var root = Directory.CreateTempSubdirectory("warden-state-tests-");
        root.UnixFileMode = (UnixFileMode)Convert.ToInt32("755", 8);
        return root.FullName;
    }

    private static bool Root => Libc.geteuid() == 0;

    private static int ModeOf(string path) => (int)File.GetUnixFileMode(path);

    [Fact]
    public void Prepare_DirectoryMade0700ByAnOperator_GetsTheModeSandboxesNeed()
    {
        var state = Directory.CreateDirectory(Path.Combine(_root, "state")).FullName;
        File.SetUnixFileMode(state, (UnixFileMode)Mode0700);
        var changes = new List<ModeChange>();

        var real = StateDirectory.Prepare(state, changes);

        Assert.Equal(state, real);
        Assert.Equal(Root ? Mode0711 : Mode0700, ModeOf(state));
        if (Root) Assert.Equal([new ModeChange(state, Mode0700, Mode0711)], changes);
    }

    [Fact]
    public void Prepare_ListableOrWritableByOthers_IsNarrowedToTheMode()
    {
        var state = Directory.CreateDirectory(Path.Combine(_root, "state")).FullName;
        File.SetUnixFileMode(state, (UnixFileMode)Convert.ToInt32("777", 8));
        StateDirectory.Prepare(state);
        Assert.Equal(StateDirectory.TraversableMode, ModeOf(state));
    }

    [Fact]
    public void Prepare_Missing_CreatesItAndItsParentsWithExactModes()
    {
        var state = Path.Combine(_root, "a", "b", "state");
        StateDirectory.Prepare(state);
        Assert.Equal(StateDirectory.TraversableMode, ModeOf(state));
        Assert.Equal(Mode0755, ModeOf(Path.Combine(_root, "a")));
        Assert.Equal(Mode0755, ModeOf(Path.Combine(_root, "a", "b")));
    }

    [Fact]
    public void Prepare_ParentNotTraversableByOthers_RefusesNamingTheParentAndTheMode()
    {
        if (!Root) Assert.Skip("Only as root do sandboxes run under uids of their own.");
        var parent = Directory.CreateDirectory(Path.Combine(_root, "private")).FullName;
        File.SetUnixFileMode(parent, (UnixFileMode)Mode0700);

        var e = Assert.Throws<InvalidConfigurationException>(() => StateDirectory.Prepare(Path.Combine(parent, "state")));

        Assert.Equal("Warden:StateDirectory (WARDEN_STATE_DIR)", e.Setting);
        Assert.Contains($"{parent} is mode 0700", e.Message, StringComparison.Ordinal);
        Assert.Contains("o+x", e.Message, StringComparison.Ordinal);
        // Warden never changes a directory that is not its own.
        Assert.Equal(Mode0700, ModeOf(parent));
        var doctor = StateDirectory.Inspect(Path.Combine(parent, "state"));
        Assert.False(doctor.Ok);
        Assert.Contains(parent, doctor.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Prepare_ParentWritableByOthersWithoutStickyBit_Refused()
    {
        var parent = Directory.CreateDirectory(Path.Combine(_root, "open")).FullName;
        File.SetUnixFileMode(parent, (UnixFileMode)Convert.ToInt32("777", 8));
        var e = Assert.Throws<InvalidConfigurationException>(() => StateDirectory.Prepare(Path.Combine(parent, "state")));
        Assert.Contains($"{parent} is mode 0777", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Prepare_OwnedByAnotherUser_RefusesNamingOwnerAndMode()
    {
        if (!Root) Assert.Skip("Giving a directory away needs root.");
        var state = Directory.CreateDirectory(Path.Combine(_root, "theirs")).FullName;
        Assert.Equal(0, Libc.chown(state, 54321, 54321));
        File.SetUnixFileMode(state, (UnixFileMode)Mode0755);

        var e = Assert.Throws<InvalidConfigurationException>(() => StateDirectory.Prepare(state));

        Assert.Contains($"{state} belongs to uid 54321", e.Message, StringComparison.Ordinal);
        Assert.Contains("0711", e.Message, StringComparison.Ordinal);
        Assert.Equal(Mode0755, ModeOf(state));
        Assert.False(StateDirectory.Inspect(state).Ok);
    }

    [Fact]
    public void EnsureDirectory_SymbolicLinkInPlaceOfADirectory_RefusedAndItsTargetUntouched()
    {
        var state = StateDirectory.Prepare(Path.Combine(_root, "state"));
        var elsewhere = Directory.CreateDirectory(Path.Combine(_root, "elsewhere")).FullName;
        File.SetUnixFileMode(elsewhere, (UnixFileMode)Mode0755);
        File.CreateSymbolicLink(Path.Combine(state, "run"), elsewhere);

        var e = Assert.Throws<InvalidConfigurationException>(() => StateDirectory.EnsureDirectory(Path.Combine(state, "run"), Mode0711));

        Assert.Contains("symbolic link", e.Message, StringComparison.Ordinal);
        Assert.Equal(Mode0755, ModeOf(elsewhere));
    }

    [Fact]
    public void PrivateFile_NewAndExistingReadableFiles_End0600()
    {
        var fresh = Path.Combine(_root, "fresh.db");
        PrivateFile.Create(fresh);
        Assert.Equal(PrivateFile.Mode, ModeOf(fresh));

        var old = Path.Combine(_root, "old.db");
        File.WriteAllText(old, "key hashes");
        File.SetUnixFileMode(old, (UnixFileMode)Convert.ToInt32("644", 8));
        PrivateFile.Create(old);
        Assert.Equal(PrivateFile.Mode, ModeOf(old));
        Assert.Equal("key hashes", File.ReadAllText(old));

        var wal = Path.Combine(_root, "old.db-wal");
        File.WriteAllText(wal, "");
        File.SetUnixFileMode(wal, (UnixFileMode)Convert.ToInt32("666", 8));
        PrivateFile.RestrictIfPresent(wal);
        PrivateFile.RestrictIfPresent(Path.Combine(_root, "absent-shm"));
        Assert.Equal(PrivateFile.Mode, ModeOf(wal));
    }

    [Fact]
    public void PrivateFile_SymbolicLink_NotFollowed()
    {
        var target = Path.Combine(_root, "target");
        File.WriteAllText(target, "");
        File.SetUnixFileMode(target, (UnixFileMode)Convert.ToInt32("644", 8));
        var link = Path.Combine(_root, "warden.db");
        File.CreateSymbolicLink(link, target);
        Assert.Throws<IOException>(() => PrivateFile.Create(link));
        Assert.Equal(Convert.ToInt32("644", 8), ModeOf(target));
    }

    [Fact]
    public void Lock_TwiceInOneProcess_SharedUntilTheLastLeaseGoes()
    {
        var state = Path.Combine(_root, "state");
        var first = StateDirectoryLock.Acquire(state);
        var second = StateDirectoryLock.Acquire(state);
        var lockFile = Path.Combine(first.Path, StateDirectoryLock.FileName);
        Assert.Equal(PrivateFile.Mode, ModeOf(lockFile));
        Assert.Equal(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), ReadUnlocked(lockFile).Trim());
        Assert.False(LockableByAnotherProcess(lockFile));

        first.Dispose();
        first.Dispose();
        Assert.True(StateDirectoryLock.IsHeld(first.Path));
        Assert.False(LockableByAnotherProcess(lockFile));

        second.Dispose();
        Assert.False(StateDirectoryLock.IsHeld(first.Path));
        Assert.True(LockableByAnotherProcess(lockFile));
    }

    [Fact]
    public async Task Lock_HeldByAnotherProcess_RefusedNamingTheDirectoryAndItsPid()
    {
        var state = StateDirectory.Prepare(Path.Combine(_root, "state"));
        var lockFile = Path.Combine(state, StateDirectoryLock.FileName);
        // Another process that writes its pid and holds the lock, as a Warden does.
        using var holder = Process.Start(new ProcessStartInfo("sh", ["-c", $"echo $$ > '{lockFile}' && exec flock '{lockFile}' sleep 60"])
        {
            RedirectStandardOutput = true, UseShellExecute = false,
        })!;
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (LockableByAnotherProcess(lockFile) && DateTime.UtcNow < deadline) await Task.Delay(20, TestContext.Current.CancellationToken);

            var e = Assert.Throws<StateDirectoryInUseException>(() => StateDirectoryLock.Acquire(state));

            Assert.Equal(holder.Id, e.HolderPid);
            Assert.Contains($"{state} is in use by another Warden process (pid {holder.Id})", e.Message, StringComparison.Ordinal);
            Assert.False(StateDirectoryLock.IsHeld(state));
        }
        finally
        {
            // flock(1)'s child (sleep) holds the locked descriptor too.
            holder.Kill(entireProcessTree: true);
            await holder.WaitForExitAsync(TestContext.Current.CancellationToken);
        }
        // The kernel drops the dead holder's lock once the last process with the descriptor is gone: flock's sleep child
        // can outlive the wait above by a moment on a loaded host.
        var released = DateTime.UtcNow.AddSeconds(10);
        while (!LockableByAnotherProcess(lockFile) && DateTime.UtcNow < released) await Task.Delay(20, TestContext.Current.CancellationToken);
        using var lease = StateDirectoryLock.Acquire(state);
        Assert.True(StateDirectoryLock.IsHeld(state));
    }

    /// <summary>The content without .NET's own flock(LOCK_SH), which the lock's holder would refuse.</summary>
    private static string ReadUnlocked(string path)
    {
        using var handle = FileStatus.Open(path, Libc.O_RDONLY);
        var buffer = new byte[64];
        return System.Text.Encoding.ASCII.GetString(buffer, 0, RandomAccess.Read(handle, buffer, 0));
    }

    /// <summary>flock(1) in another process: can it take the lock right now?</summary>
    private static bool LockableByAnotherProcess(string lockFile)
    {
        using var flock = Process.Start(new ProcessStartInfo("flock", ["-n", "-E", "99", lockFile, "true"]) { UseShellExecute = false })!;
        flock.WaitForExit();
        return flock.ExitCode == 0;
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
