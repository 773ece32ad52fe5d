namespace Warden.Core.Sessions;

public enum SessionState
{
    Starting,
    Idle,
    Busy,
    Restarting,
    /// <summary>The kernel died or was killed; the next execution starts a fresh one.</summary>
    Dead,
    Closed,
}
