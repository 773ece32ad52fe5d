namespace Warden.Core.Sandboxing;

/// <summary>
/// Isolation tools (bwrap, runsc, prlimit under docker exec) report a child killed by signal N as exit code 128+N, as
/// shells do. Decoded in one place; a program that really exits with 129..192 is indistinguishable, as in any shell.
/// </summary>
internal static class ShellStatus
{
    public static (int? ExitCode, int? Signal) Decode(int code) =>
        code > 128 && code < 128 + 65 ? (null, code - 128) : (code, null);
}
