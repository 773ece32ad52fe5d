namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>
/// One prepared <c>runsc run</c>: the helper's control block, the pid file runsc writes, the container id, and a warm
/// sandbox's exit report.
/// </summary>
internal sealed record GvisorRun(IReadOnlyList<string> Control, string PidFile, string ContainerId, Slots.ExitReport? Report = null);
