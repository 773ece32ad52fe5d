namespace Warden.Core.Sandboxing;

/// <summary>
/// A backend that keeps sandboxes alive between requests: sessions, Jupyter kernels, terminals. Declared as
/// <see cref="BackendCapabilities.LongLivedSandboxes"/>; a surface that needs it is refused at start-up on a backend
/// without it (<see cref="BackendStartup"/>), so nothing asks for a session a backend cannot start.
/// </summary>
public interface ISessionBackend : ISandboxBackend
{
    /// <summary>Starts a long-lived sandbox on a dedicated slot (not from the execution pool); dispose it to destroy it.</summary>
    ValueTask<ISessionSandbox> StartSessionAsync(SessionSpec spec, CancellationToken cancellationToken);
}
