namespace Warden.Sandbox.Tests.Infrastructure;

/// <summary>
/// What to do when a backend cannot run here. On a developer machine the test is skipped with the probe's reason; in CI
/// (<c>CI=true</c>) or with <c>WARDEN_REQUIRE_SANDBOX=1</c> it fails, because a skipped sandbox test proves nothing.
/// </summary>
internal static class SandboxRequirement
{
    public static bool Required =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
        || Environment.GetEnvironmentVariable("WARDEN_REQUIRE_SANDBOX") == "1";

    public static Exception Unavailable(string backend, string reason)
    {
        var message = $"Sandbox backend '{backend}' cannot run on this host: {reason}";
        if (Required) Assert.Fail(message + " (required: CI=true or WARDEN_REQUIRE_SANDBOX=1)");
        Assert.Skip(message);
        return new InvalidOperationException(message); // not reached: both asserts throw
    }
}
