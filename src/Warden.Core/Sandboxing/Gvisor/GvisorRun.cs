namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>One prepared <c>runsc run</c>: the helper's control block, the pid file runsc writes, the container id.</summary>
internal sealed record GvisorRun(IReadOnlyList<string> Control, string PidFile, string ContainerId);
