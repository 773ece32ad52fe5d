using System.Diagnostics;
using System.Text;
using Warden.Core.Execution;
using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Files;

namespace Warden.Core.Tests.Sandboxing.Files;

/// <summary>
/// The walk every host-side read of a sandbox's files goes through, against what a hostile sandbox can leave: each case
/// must answer at once, never read the host's secret, and say what it skipped. Run with openat2 and with the per-component
/// O_NOFOLLOW fallback.
/// </summary>
[Collection(nameof(SandboxTreeCollection))]
public sealed class SandboxTreeTests : IDisposable
{
    private readonly HostileTree _tree = new();
    private readonly bool _openat2 = SandboxTree.UseOpenat2;

    public static TheoryData<bool> Openat2 => new(true, false);

    private CollectedFiles Collect(bool openat2, IReadOnlyDictionary<string, string>? inputs = null, int maxFiles = 16, long maxBytes = 8 << 20)
    {
        SandboxTree.UseOpenat2 = openat2;
        using var tree = SandboxTree.Open(_tree.Root);
        return WorkspaceFiles.Collect(tree, inputs ?? new Dictionary<string, string>(), maxFiles, maxBytes, TestContext.Current.CancellationToken);
    }

    private static FileSkipReason? ReasonOf(CollectedFiles collected, string name) =>
        collected.Skipped.FirstOrDefault(s => s.Name == name)?.Reason;

    private void AssertNoSecret(CollectedFiles collected) =>
        Assert.DoesNotContain(collected.Files, f => Encoding.UTF8.GetString(f.Content).Contains(_tree.Secret, StringComparison.Ordinal));

    [Theory]
    [MemberData(nameof(Openat2))]
    public void Collect_RegularFiles_ReturnedDepthFirstInByteOrder(bool openat2)
    {
        _tree.Write("b.txt", "b");
        _tree.Write("a/z.txt", "az");
        _tree.Write("a/y/x.txt", "ayx");

        var collected = Collect(openat2);

        Assert.Equal(["a/y/x.txt", "a/z.txt", "b.txt"], collected.Files.Select(f => f.Name));
        Assert.Equal("ayx", Encoding.UTF8.GetString(collected.Files[0].Content));
        Assert.Empty(collected.Skipped);
        Assert.False(collected.Truncated);
    }

    [Theory]
    [MemberData(nameof(Openat2))]
    public void Collect_LinksToHostFilesAndDirectories_SkippedNeverFollowed(bool openat2)
    {
        _tree.Link("to-secret", _tree.SecretFile);
        _tree.Link("to-outside", _tree.Outside);
        _tree.Link("relative", "../outside/secret");
        _tree.Link("to-proc", "/proc/self/root/" + _tree.SecretFile.TrimStart('/'));

        var collected = Collect(openat2);

        Assert.Empty(collected.Files);
        foreach (var name in new[] { "to-secret", "to-outside", "relative", "to-proc" }) Assert.Equal(FileSkipReason.Symlink, ReasonOf(collected, name));
    }

    [Theory]
    [MemberData(nameof(Openat2))]
    public void Collect_FifoSocketAndDevice_SkippedWithoutOpening(bool openat2)
    {
        Assert.SkipUnless(Environment.IsPrivilegedProcess, "mknod needs root");
        _tree.Fifo("fifo");
        _tree.UnixSocket("socket");
        _tree.Device("null-device");
        _tree.Write("after.txt", "after");

        var watch = Stopwatch.StartNew();
        var collected = Collect(openat2);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.Elapsed}");
        Assert.Equal(["after.txt"], collected.Files.Select(f => f.Name));
        Assert.Equal(FileSkipReason.Fifo, ReasonOf(collected, "fifo"));
        Assert.Equal(FileSkipReason.Socket, ReasonOf(collected, "socket"));
        Assert.Equal(FileSkipReason.Device, ReasonOf(collected, "null-device"));
    }

    [Fact]
    public void Collect_HugeSparseFile_SkippedAtOnceWithoutReading()
    {
        _tree.Sparse("huge", 100L << 30);
        _tree.Write("small.txt", "small");

        var watch = Stopwatch.StartNew();
        var collected = Collect(true);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.Elapsed}");
        Assert.Equal(FileSkipReason.TooLarge, ReasonOf(collected, "huge"));
        Assert.Equal(["small.txt"], collected.Files.Select(f => f.Name));
    }

    [Fact]
    public void Collect_TenThousandLevelsDeep_StopsAtTheDepthBound()
    {
        _tree.Deep("d", 10_000);
        _tree.Write("top.txt", "top");

        var watch = Stopwatch.StartNew();
        var collected = Collect(true);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.Equal(["top.txt"], collected.Files.Select(f => f.Name));
        var deep = Assert.Single(collected.Skipped);
        Assert.Equal(FileSkipReason.TooDeep, deep.Reason);
        Assert.Equal(TreeLimits.Default.MaxDepth + 1, deep.Name.Split('/').Length);
        Assert.True(collected.Truncated);
    }

    [Fact]
    public void Collect_ThousandsOfFiles_BoundedByCountAndEntries()
    {
        for (int i = 0; i < 12_000; i++) File.WriteAllText(_tree.PathOf($"f{i:D5}"), "x");

        var watch = Stopwatch.StartNew();
        var collected = Collect(true);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.Equal(16, collected.Files.Count);
        Assert.True(collected.Truncated);
        // The first files past the limit are named; the list stays bounded however many there were.
        Assert.Equal(CollectedFiles.MaxSkippedReported, collected.Skipped.Count);
        Assert.All(collected.Skipped, s => Assert.Equal(FileSkipReason.OverLimit, s.Reason));
        Assert.True(string.CompareOrdinal(collected.Skipped[0].Name, collected.Files[^1].Name) > 0);
    }

    [Fact]
    public void Collect_HostileNames_NoExceptionsAndEachAccountedFor()
    {
        _tree.RawName([0x66, 0xff, 0xfe, 0x0a], "not utf-8");
        _tree.Write("line\nbreak", "newline");
        _tree.Write(new string('n', 255), "longest name");
        _tree.Deep(new string('p', 250), 17);

        var collected = Collect(true, maxFiles: 100);

        Assert.Equal(["line\nbreak", new string('n', 255)], collected.Files.Select(f => f.Name).Order(StringComparer.Ordinal));
        Assert.Contains(collected.Skipped, s => s.Reason == FileSkipReason.NameNotUtf8 && s.Name.StartsWith('f'));
        Assert.Contains(collected.Skipped, s => s.Reason == FileSkipReason.NameTooLong);
    }

    [Fact]
    public void Collect_HardLinkInTheTree_ReturnsItsContent()
    {
        _tree.Write("original", "shared");
        HostileTree.Run("ln", _tree.PathOf("original"), _tree.PathOf("second"));

        var collected = Collect(true);

        Assert.Equal(["original", "second"], collected.Files.Select(f => f.Name));
        Assert.All(collected.Files, f => Assert.Equal("shared", Encoding.UTF8.GetString(f.Content)));
    }

    [Fact]
    public void Collect_UnchangedInputs_LeftOutChangedOnesReturned()
    {
        _tree.Write("main.py", "print(1)");
        _tree.Write("data.txt", "changed");

        var collected = Collect(true, new Dictionary<string, string> { ["main.py"] = "print(1)", ["data.txt"] = "original" });

        Assert.Equal(["data.txt"], collected.Files.Select(f => f.Name));
    }

    [Theory]
    [MemberData(nameof(Openat2))]
    public void Collect_RenamesRacingTheWalk_NeverReadTheHostSecret(bool openat2)
    {
        // A file and a link to the secret swapped atomically, and a directory and a link to the secret's directory, as
        // fast as a thread can, for the whole time of 300 walks.
        _tree.Write("swap-file", "public");
        _tree.Link("swap-link", _tree.SecretFile);
        _tree.Write("swap-dir/secret", "public too");
        _tree.Link("swap-dirlink", _tree.Outside);
        using var stop = new CancellationTokenSource();
        long swaps = 0;
        var racer = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (_tree.Exchange("swap-file", "swap-link")) swaps++;
                _tree.Exchange("swap-dir", "swap-dirlink");
            }
        });
        racer.Start();
        try
        {
            for (int i = 0; i < 300; i++) AssertNoSecret(Collect(openat2));
        }
        finally
        {
            stop.Cancel();
            racer.Join();
        }
        Assert.True(swaps > 100, $"only {swaps} swaps: the race did not run");
    }

    [Fact]
    public async Task RunAsync_AsTheSandboxUser_KernelRefusesWhatItCouldNotRead()
    {
        Assert.SkipUnless(Environment.IsPrivilegedProcess, "switching the filesystem identity needs root");
        const int uid = 64123, extraGroup = 64999;
        _tree.Write("mine.txt", "mine");
        _tree.Write("root-only", "root's");
        _tree.Write("group-only", "a supplementary group's");
        _tree.Write("own-group", "the sandbox group's");
        HostileTree.Run("chown", $"{uid}:{uid}", _tree.PathOf("mine.txt"));
        HostileTree.Run("chown", $"0:{extraGroup}", _tree.PathOf("group-only"));
        HostileTree.Run("chown", $"0:{uid}", _tree.PathOf("own-group"));
        File.SetUnixFileMode(_tree.PathOf("root-only"), UnixFileMode.UserRead);
        foreach (var name in new[] { "group-only", "own-group" }) File.SetUnixFileMode(_tree.PathOf(name), UnixFileMode.UserRead | UnixFileMode.GroupRead);
        string before = FsIds("/proc/self/status");

        // A thread inherits its creator's groups: start the walk from a thread that has a supplementary group the walk must drop.
        string? workerIds = null, leaderIds = null;
        var asUser = await OnThreadWithGroups([0, extraGroup], () => SandboxTree.RunAsync(_tree.Root, uid, tree =>
        {
            // The switch is the worker thread's alone: the process's main thread keeps its identity.
            workerIds = FsIds("/proc/thread-self/status");
            leaderIds = FsIds("/proc/self/status");
            return WorkspaceFiles.Collect(tree, new Dictionary<string, string>(), 16, 1 << 20, CancellationToken.None);
        }, CancellationToken.None));
        var asRoot = await SandboxTree.RunAsync(_tree.Root, null, tree => WorkspaceFiles.Collect(tree, new Dictionary<string, string>(), 16, 1 << 20,
            CancellationToken.None), TestContext.Current.CancellationToken);

        Assert.Equal($"{uid} {uid} groups:", workerIds);
        Assert.Equal(before, leaderIds);
        Assert.Equal(["mine.txt", "own-group"], asUser.Files.Select(f => f.Name));
        Assert.Equal(FileSkipReason.Unreadable, ReasonOf(asUser, "root-only"));
        Assert.Equal(FileSkipReason.Unreadable, ReasonOf(asUser, "group-only"));
        Assert.Equal(4, asRoot.Files.Count);
        Assert.Equal("root's", File.ReadAllText(_tree.PathOf("root-only")));
    }

    private static unsafe Task<T> OnThreadWithGroups<T>(uint[] groups, Func<Task<T>> start)
    {
        var result = new TaskCompletionSource<T>();
        var thread = new Thread(() =>
        {
            fixed (uint* g = groups) Assert.Equal(0, Warden.Core.Interop.Libc.syscall_setgroups(Warden.Core.Interop.Libc.SYS_setgroups, groups.Length, g));
            try { result.SetResult(start().GetAwaiter().GetResult()); }
            catch (Exception e) { result.SetException(e); }
        });
        thread.Start();
        thread.Join();
        return result.Task;
    }

    [Theory]
    [MemberData(nameof(Openat2))]
    public void WriteFile_DirectoryOnTheWayIsALink_RefusedAndNothingWrittenOutside(bool openat2)
    {
        SandboxTree.UseOpenat2 = openat2;
        _tree.Link("escape", _tree.Outside);
        _tree.Write("file", "x");
        using var tree = SandboxTree.Open(_tree.Root);

        Assert.Throws<IOException>(() => tree.WriteFile("escape/planted", "pwned"u8, null));
        Assert.Throws<IOException>(() => tree.WriteFile("escape", "pwned"u8, null));
        Assert.Throws<IOException>(() => tree.WriteFile("file/below", "pwned"u8, null));
        tree.WriteFile("made/on/the/way.txt", "ok"u8, null);

        Assert.False(File.Exists(Path.Combine(_tree.Outside, "planted")));
        Assert.Equal(_tree.Secret, File.ReadAllText(_tree.SecretFile));
        Assert.Equal("ok", File.ReadAllText(_tree.PathOf("made/on/the/way.txt")));
    }

    [Fact]
    public void WriteFile_WithOwner_FilesAndNewDirectoriesBelongToIt()
    {
        Assert.SkipUnless(Environment.IsPrivilegedProcess, "chown needs root");
        using var tree = SandboxTree.Open(_tree.Root);

        tree.WriteFile("sub/file.txt", "content"u8, 64124);

        Assert.Equal(64124, Owner(_tree.PathOf("sub")));
        Assert.Equal(64124, Owner(_tree.PathOf("sub/file.txt")));
    }

    [Fact]
    public void DeleteContents_DeepLinkedAndSpecialEntries_AllGoAndNothingOutside()
    {
        _tree.Deep("d", 10_000);
        _tree.Link("to-outside", _tree.Outside);
        _tree.Fifo("fifo");
        _tree.Write("dir/file", "x");
        using var tree = SandboxTree.Open(_tree.Root);

        var watch = Stopwatch.StartNew();
        tree.DeleteContents();

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
        Assert.Empty(Directory.EnumerateFileSystemEntries(_tree.Root));
        Assert.Equal(_tree.Secret, File.ReadAllText(_tree.SecretFile));
    }

    /// <summary>"fsuid fsgid groups:list" from a /proc status file.</summary>
    private static string FsIds(string statusFile)
    {
        var lines = File.ReadAllLines(statusFile);
        string Field(string name, int index) => lines.First(l => l.StartsWith(name, StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[index];
        var groups = lines.First(l => l.StartsWith("Groups:", StringComparison.Ordinal))["Groups:".Length..].Trim();
        return $"{Field("Uid:", 4)} {Field("Gid:", 4)} groups:{groups}";
    }

    private static int Owner(string path)
    {
        var output = new StringBuilder();
        using var process = Process.Start(new ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
        output.Append(process.StandardOutput.ReadToEnd());
        process.WaitForExit();
        return int.Parse(output.ToString().Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public void Dispose()
    {
        SandboxTree.UseOpenat2 = _openat2;
        _tree.Dispose();
    }
}

/// <summary>The tests switch <see cref="SandboxTree.UseOpenat2"/>, a static: they must not run beside each other.</summary>
[CollectionDefinition(nameof(SandboxTreeCollection), DisableParallelization = true)]
public sealed class SandboxTreeCollection;
