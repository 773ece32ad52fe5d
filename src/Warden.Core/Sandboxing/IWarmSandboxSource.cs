using Warden.Core.Limits;

namespace Warden.Core.Sandboxing;

/// <summary>
/// What a warm sandbox is started with: the language stub as its program, the environment every run of the language
/// gets, and the limits it idles under until a request arms it.
/// </summary>
/// <param name="MainIndex">Where the main file sits in the language's run command; everything before it is the
/// interpreter and its flags, which the stub was started with too.</param>
public sealed record WarmRecipe(string Language, SandboxCommand Stub, ResourceLimits IdleLimits, int MainIndex)
{
    /// <summary>
    /// Whether the stub loads at the lowest CPU weight of its cgroup, yielding to the instance's running requests (a
    /// refill ahead of demand). False for a sandbox a request is waiting for: under saturation that load is the
    /// request's own start, and at idle weight it would wait for every other run to finish first.
    /// </summary>
    public bool LoadsAtIdleWeight { get; init; } = true;
}

/// <summary>A backend that can start single-use sandboxes ahead of their request (the warm pool).</summary>
public interface IWarmSandboxSource
{
    /// <param name="slotCapacity">Warm slots the backend may create in all: ready, starting, running and recycling ones.</param>
    Task<IWarmSandbox> StartWarmAsync(WarmRecipe recipe, int slotCapacity, CancellationToken cancellationToken);
}

/// <summary>
/// A sandbox whose interpreter is already loaded and waiting on stdin for its go-message. It runs exactly one program: the
/// <see cref="ISandbox.RunAsync"/> that sends the go-message; disposing it destroys it.
/// </summary>
public interface IWarmSandbox : ISandbox
{
    WarmRecipe Recipe { get; }

    /// <summary>False once its processes are gone (killed from outside, or the stub failed to start).</summary>
    bool IsAlive { get; }

    /// <summary>
    /// Puts this request's cgroup limits on the sandbox. False when the cgroup refuses them (a memory limit below what
    /// the idle interpreter already uses): the caller then disposes it and runs cold.
    /// </summary>
    bool TryArm(ResourceLimits limits);
}
