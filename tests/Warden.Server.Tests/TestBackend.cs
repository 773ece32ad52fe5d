namespace Warden.Server.Tests;

/// <summary>
/// The backend the long-lived-sandbox suites (sessions, Jupyter, Open Terminal, MCP) run on: <c>WARDEN_TEST_BACKEND</c>
/// (one name, default <c>bwrap</c>). scripts/test.sh runs them once per backend.
/// </summary>
internal static class TestBackend
{
    public static string Name { get; } =
        Environment.GetEnvironmentVariable("WARDEN_TEST_BACKEND") is { Length: > 0 } name ? name : "bwrap";
}
