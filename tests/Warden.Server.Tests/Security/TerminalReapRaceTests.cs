using System.Net.Sockets;
using System.Text;

namespace Warden.Server.Tests.Security;

/// <summary>
/// A request holds its user's terminal from authentication to its last operation. If the idle reaper stops that terminal
/// in between (a slow upload is enough: the form is read after the terminal was looked up), the request must get a
/// clear answer (served, or 503 to retry), never a 500 from an operation on a disposed terminal.
/// </summary>
public sealed class TerminalReapRaceTests
{
    [Fact]
    public async Task SlowUpload_WhoseTerminalIsReapedMeanwhile_IsNotA500()
    {
        await using var terminal = await OpenTerminal.TerminalTestServer.StartAsync(new() { ["Warden:Terminal:IdleTimeoutSeconds"] = "1" });
        var ct = TestContext.Current.CancellationToken;
        using var user = terminal.For("slow-uploader");
        await user.RunAsync("echo started");

        const string boundary = "warden-slow-boundary";
        var body = Encoding.ASCII.GetBytes($"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.txt\"\r\n" +
            $"Content-Type: text/plain\r\n\r\nslow upload\r\n--{boundary}--\r\n");
        var head = Encoding.ASCII.GetBytes("POST /terminal/files/upload?directory=/home/user HTTP/1.1\r\n" +
            $"Host: {terminal.Server.Address.Authority}\r\nAuthorization: Bearer {OpenTerminal.TerminalTestServer.ApiKey}\r\n" +
            $"X-User-Id: slow-uploader\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {body.Length}\r\n" +
            "Connection: close\r\n\r\n");
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(terminal.Server.Address.Host, terminal.Server.Address.Port, ct);
        var stream = tcp.GetStream();
        await stream.WriteAsync(head.Concat(body.Take(16)).ToArray(), ct);
        // The terminal was looked up when the headers arrived; idle for 1 s, the reaper (every 0.5 s) stops it meanwhile.
        await Task.Delay(TimeSpan.FromSeconds(3), ct);
        await stream.WriteAsync(body.AsMemory(16), ct);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var response = await reader.ReadToEndAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);
        var status = response.Split(' ', 3)[1];
        Assert.True(status is "200" or "503", $"The upload across a reap answered:\n{response}");
        if (status == "503") Assert.Contains("application/problem+json", response, StringComparison.Ordinal);

        // And the user's terminal works again at once.
        Assert.Contains("again", OpenTerminal.TerminalClient.Output(await user.RunAsync("echo again")), StringComparison.Ordinal);
    }
}
