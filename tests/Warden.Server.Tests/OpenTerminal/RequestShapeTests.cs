using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// The Open Terminal surface takes what Open WebUI sends (every tool argument in the body, query ones too; an argument
/// the model left out as <c>None</c> or <c>null</c> in the query) and answers anything else wrong as open-terminal
/// (FastAPI) does: 422 with <c>detail</c> a list of <c>{type, loc, msg, input}</c>, the field named in words (also as
/// <c>parameter</c>), never a .NET type or a 500; a body that does not parse at all is FastAPI's 400.
/// </summary>
public sealed class RequestShapeTests(SharedTerminalServer fixture) : IClassFixture<SharedTerminalServer>
{
    [Fact]
    public async Task RunCommand_AsOpenWebUiSendsIt_ExtraBodyFieldsAndNoneInTheQuery_Runs()
    {
        using var user = fixture.Server.For("shape-user");
        // utils/tools.py: query built as f"{k}={v}" (None for an absent argument), and the body holds every argument.
        var (status, body) = await user.PostAsync("execute?wait=5&tail=None", new { command = "echo shaped", wait = 5, tail = (int?)null, cwd = (string?)null });
        Assert.True(status == 200, body.ToString());
        Assert.Equal("shaped\n", TerminalClient.Output(body));
        (status, body) = await user.GetAsync($"execute/{body.GetProperty("id").GetString()}/status?wait=null&offset=0&tail=null");
        Assert.True(status == 200, body.ToString());
    }

    [Theory]
    [InlineData("execute", "{\"command\":5}", "command must be a string", "command", "body/command")]
    [InlineData("execute", "{\"cwd\":\".\"}", "command is required", "command", "body/command")]
    [InlineData("execute", "{\"command\":null}", "command must not be null", "command", "body/command")]
    [InlineData("execute", "{\"command\":\"true\",\"env\":{\"A\":1}}", "env.A must be a string", "env.A", "body/env/A")]
    [InlineData("execute", "{\"command\":\"true\",\"command\":\"id\"}", "command appears more than once", "command", "body/command")]
    [InlineData("files/write", "{\"path\":\"a.txt\"}", "content is required", "content", "body/content")]
    [InlineData("files/replace", "{\"path\":\"a.txt\",\"replacements\":[{\"target\":\"a\"}]}", "replacements[0].replacement is required", "replacements[0].replacement", "body/replacements/0/replacement")]
    [InlineData("files/mkdir", "{\"path\":[\"a\"]}", "path must be a string", "path", "body/path")]
    [InlineData("files/move", "{\"source\":\"a\"}", "destination is required", "destination", "body/destination")]
    public async Task BadBody_Is422NamingTheField(string path, string json, string detail, string parameter, string loc)
    {
        using var user = fixture.Server.For("shape-user");
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        var response = await user.Http.PostAsync(path, content, TestContext.Current.CancellationToken);
        var problem = await ProblemAsync(response, 422);
        var error = problem.GetProperty("detail").EnumerateArray().Single();
        Assert.Contains(detail, error.GetProperty("msg").GetString(), StringComparison.Ordinal);
        Assert.Equal(loc, Location(error));
        Assert.Equal(parameter, problem.GetProperty("parameter").GetString());
    }

    [Theory]
    [InlineData("files/read?path=a.txt&start_line=abc", "start_line must be an integer", "start_line")]
    [InlineData("files/read", "path is required", "path")]
    [InlineData("execute/none/status?wait=soon", "wait must be a number", "wait")]
    [InlineData("files/grep?query=x&regex=perhaps", "regex must be true or false", "regex")]
    public async Task BadQuery_Is422NamingTheParameter(string path, string detail, string parameter)
    {
        using var user = fixture.Server.For("shape-user");
        var response = await user.Http.GetAsync(path, TestContext.Current.CancellationToken);
        var problem = await ProblemAsync(response, 422);
        var error = problem.GetProperty("detail").EnumerateArray().Single();
        Assert.Equal(detail, error.GetProperty("msg").GetString()!.TrimEnd('.'));
        Assert.Equal("value_error", error.GetProperty("type").GetString());
        Assert.Equal("query/" + parameter, Location(error));
        Assert.Equal(parameter, problem.GetProperty("parameter").GetString());
    }

    /// <summary>Fuzz find: a multipart body without its boundary, or cut short, was a 500 from the form reader.</summary>
    [Theory]
    [InlineData("multipart/form-data", "--x\r\n\r\n")]
    [InlineData("multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhal")]
    [InlineData("multipart/form-data; boundary=b", "[]")]
    public async Task Upload_MalformedMultipart_Is400(string contentType, string body)
    {
        using var user = fixture.Server.For("shape-user");
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        var response = await user.Http.PostAsync("files/upload?directory=.", content, TestContext.Current.CancellationToken);
        await ProblemAsync(response, 400);
    }

    /// <summary>FastAPI's <c>loc</c> list as one string, "body/replacements/0/replacement".</summary>
    private static string Location(JsonElement error) => string.Join('/', error.GetProperty("loc").EnumerateArray()
        .Select(e => e.ValueKind == JsonValueKind.Number ? e.GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture) : e.GetString()));

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, int status)
    {
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True((int)response.StatusCode == status, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotMatch(@"System\.|Int32|Double|Nullable|Warden\.", text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
