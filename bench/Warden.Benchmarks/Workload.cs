namespace Warden.Benchmarks;

/// <summary>A hello-world program in one language: how to run it bare, what Warden gets, and what it must print.</summary>
internal sealed record Workload(string Language, IReadOnlyList<string> BareArgv, string Code, string ExpectedStdout)
{
    public static readonly Workload Python = new("python", ["/usr/bin/python3", "-c", "print(1)"], "print(1)", "1\n");

    public static readonly Workload JavaScript = new("javascript", ["/usr/bin/node", "-e", "console.log(1)"], "console.log(1)", "1\n");

    public static readonly Workload Bash = new("bash", ["/usr/bin/bash", "-c", "echo 1"], "echo 1", "1\n");

    public static readonly IReadOnlyList<Workload> All = [Python, JavaScript, Bash];

    /// <summary>Throws when a run did not produce the expected output: timing a failure would be meaningless.</summary>
    public void Check(string variant, string stdout, string detail)
    {
        if (stdout != ExpectedStdout)
            throw new InvalidOperationException($"{variant} ({Language}) printed {Quote(stdout)} instead of {Quote(ExpectedStdout)}: {detail}");
    }

    private static string Quote(string s) => System.Text.Json.JsonSerializer.Serialize(s);
}
