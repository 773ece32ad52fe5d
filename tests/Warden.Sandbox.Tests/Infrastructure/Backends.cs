namespace Warden.Sandbox.Tests.Infrastructure;

/// <summary>
/// The backends every sandbox test runs against, from <c>WARDEN_TEST_BACKENDS</c> (comma list, default <c>bwrap</c>).
/// Tests take the backend name as their first theory argument, so a new backend runs the same suite unchanged.
/// </summary>
public static class Backends
{
    public static IReadOnlyList<string> Names { get; } =
        (Environment.GetEnvironmentVariable("WARDEN_TEST_BACKENDS") is { Length: > 0 } list ? list : "bwrap")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static TheoryData<string> All => new(Names);

    /// <summary>
    /// The listed backends that have warm sandboxes (bwrap, gvisor). The warm-path tests run only there: on the others
    /// every run is cold, which the whole suite already covers. When none is listed (a docker-only run) the tests get
    /// <see cref="NoWarmBackend"/> and skip, saying why, instead of failing for want of data.
    /// </summary>
    public static TheoryData<string> WithWarmPool =>
        new(Names.Where(n => n is "bwrap" or "gvisor").DefaultIfEmpty(NoWarmBackend));

    /// <summary>
    /// The listed backends whose sandboxes run on recycled slots (bwrap, gvisor): a uid, a cgroup and a workspace mount
    /// made clean again after each run. Docker's single-use keepers take the same recycle path, but nothing a test may
    /// do to a shared daemon makes one fail for real; <c>SlotRecyclerTests</c> cover the path itself.
    /// </summary>
    public static TheoryData<string> WithSlots =>
        new(Names.Where(n => n is "bwrap" or "gvisor").DefaultIfEmpty(NoSlotBackend));

    public const string NoSlotBackend = "(none with recycled slots)";

    public const string NoWarmBackend = "(none with warm sandboxes)";

    /// <summary>
    /// The listed backends whose warm sandboxes end a run on the stub's exit report (gvisor; bwrap with a uid per slot,
    /// that is as root; see <c>Warden.Core.Sandboxing.Slots.ExitReport</c>); <see cref="NoWarmBackend"/> when none is listed.
    /// </summary>
    public static TheoryData<string> WithExitReport =>
        new(Names.Where(n => n is "gvisor" || (n is "bwrap" && Environment.IsPrivilegedProcess)).DefaultIfEmpty(NoWarmBackend));

    /// <summary>Every backend crossed with each of <paramref name="values"/>.</summary>
    public static TheoryData<string, string> Cross(IEnumerable<string> values)
    {
        var data = new TheoryData<string, string>();
        foreach (var backend in Names)
            foreach (var value in values) data.Add(backend, value);
        return data;
    }
}
