using System.Diagnostics;
using System.Text;

namespace Warden.Core.Workspaces;

/// <summary>
/// The e2fsprogs tools a home image needs (mke2fs, e2fsck), run as bounded child processes: an argument vector (no
/// shell), the C locale, a deadline after which the tool is killed, and only the last few KB of its output kept.
/// They work on image files that no sandbox can reach (root-only, not attached while they run).
/// </summary>
internal static class StorageTool
{
    private const int KeptOutputChars = 4096;
    private static readonly string[] SearchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

    /// <summary>The tool's full path, or null when it is not installed.</summary>
    public static string? Find(string name) => SearchPath.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    public static async Task<(int ExitCode, string Output)> RunAsync(string tool, IEnumerable<string> arguments, TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        var path = Find(tool) ?? throw new IOException($"{tool} is not installed (apt-get install e2fsprogs).");
        var start = new ProcessStartInfo(path)
        {
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
        };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";
        start.Environment["LC_ALL"] = "C";
        using var process = Process.Start(start) ?? throw new IOException($"{tool} did not start.");
        process.StandardInput.Close();
        var output = new StringBuilder();
        var reads = Task.WhenAll(KeepTailAsync(process.StandardOutput, output), KeepTailAsync(process.StandardError, output));
        try
        {
            await process.WaitForExitAsync(cancellationToken).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            await reads.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
            if (e is OperationCanceledException) throw;
            throw new IOException($"{tool} did not finish within {timeout.TotalSeconds:0} s and was killed.", e);
        }
        lock (output) return (process.ExitCode, output.ToString().Trim());
    }

    private static async Task KeepTailAsync(StreamReader reader, StringBuilder output)
    {
        var buffer = new char[4096];
        int n;
        while ((n = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            lock (output)
            {
                output.Append(buffer, 0, n);
                if (output.Length > KeptOutputChars) output.Remove(0, output.Length - KeptOutputChars);
            }
        }
    }
}
