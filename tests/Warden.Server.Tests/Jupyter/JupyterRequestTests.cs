using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Warden.Server.Tests.Jupyter;

/// <summary>
/// The Jupyter REST surface keeps taking what Open WebUI and @jupyterlab/services send (no body, or {"name"} plus
/// jupyter_server's other fields) and answers malformed requests with a problem, never a 500 (found by the API fuzz test).
/// </summary>
public sealed class JupyterRequestTests : IAsyncLifetime
{
    private const string Key = "jupyter-request-tests-key-0123";
    private WardenTestServer _server = null!;

    public async ValueTask InitializeAsync() =>
        _server = await WardenTestServer.StartAsync(new() { ["Warden:Jupyter:Password"] = "jupyter-tests-password" }, Key);

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData(null)]
    [InlineData("{\"name\":\"python3\",\"path\":\"notebook.ipynb\",\"env\":{}}")]
    public async Task StartKernel_AsClientsSendIt_Starts(string? body)
    {
        var ct = TestContext.Current.CancellationToken;
        var response = await _server.Client.PostAsync("/api/kernels", body is null ? null : new StringContent(body, Encoding.UTF8, "application/json"), ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = (await Json.ReadAsync(response)).GetProperty("id").GetString();
        Assert.Equal(HttpStatusCode.NoContent, (await _server.Client.DeleteAsync($"/api/kernels/{id}", ct)).StatusCode);
    }

    [Theory]
    [InlineData("{\"name\":\"\\ud800\"}", "name is not valid text")]
    [InlineData("{\"name\":5}", "name must be a string")]
    [InlineData("{\"name\":", "Malformed JSON")]
    public async Task StartKernel_BadBody_Is400(string body, string detail)
    {
        var response = await _server.Client.PostAsync("/api/kernels", new StringContent(body, Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains(detail, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Channels_OverPlainHttp_IsAProblem()
    {
        var ct = TestContext.Current.CancellationToken;
        var started = await _server.Client.PostAsync("/api/kernels", null, ct);
        var id = (await Json.ReadAsync(started)).GetProperty("id").GetString();
        var response = await _server.Client.GetAsync($"/api/kernels/{id}/channels", ct);
        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("WebSocket", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await _server.Client.DeleteAsync($"/api/kernels/{id}", ct);
    }

    /// <summary>
    /// Fuzz find: a header whose msg_type (or msg_id) was not a string threw while the message was dispatched — on the
    /// control channel that dropped the connection, on shell it ended the loop that runs cells, so the socket hung.
    /// </summary>
    [Theory]
    [InlineData("control", "{\"msg_id\":5,\"msg_type\":5}")]
    [InlineData("shell", "{\"msg_id\":\"a\",\"msg_type\":[1]}")]
    [InlineData("shell", "{\"msg_id\":{},\"msg_type\":\"execute_request\"}")]
    public async Task Channels_HeaderFieldsOfTheWrongType_AreIgnored_AndTheKernelKeepsAnswering(string channel, string header)
    {
        var ct = TestContext.Current.CancellationToken;
        var started = await _server.Client.PostAsync("/api/kernels", null, ct);
        var id = (await Json.ReadAsync(started)).GetProperty("id").GetString()!;
        await using (var socket = await Cluster.KernelSocket.ConnectAsync(_server.Address, id, Key, ct))
        {
            await socket.SendRawAsync($"{{\"header\":{header},\"parent_header\":{{}},\"metadata\":{{}},\"content\":{{\"code\":\"1\"}},\"channel\":\"{channel}\"}}", ct);
            var (_, result) = await socket.ExecuteAsync("6 * 7", ct);
            Assert.Equal("42", result);
        }
        await _server.Client.DeleteAsync($"/api/kernels/{id}", ct);
    }

    [Theory]
    [InlineData("multipart/form-data", "--x\r\n\r\n")]
    [InlineData("multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nse")]
    public async Task Login_MalformedForm_Is400(string contentType, string body)
    {
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        var response = await _server.Client.PostAsync("/login", content, TestContext.Current.CancellationToken);
        await ProblemAsync(response, HttpStatusCode.BadRequest);
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotMatch(@"System\.|Int32|Nullable|Warden\.", text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
