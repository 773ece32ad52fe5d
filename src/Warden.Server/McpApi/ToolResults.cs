using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using ModelContextProtocol.Protocol;
using Warden.Core.Execution;
using Warden.Core.Sessions;
using Warden.Server.Hosting;
using Warden.Server.NativeApi;

namespace Warden.Server.McpApi;

/// <summary>
/// Engine results as MCP tool results: one text block a model can read (status, exit code, stdout, stderr, traceback),
/// then the images the code produced as image blocks. Anything but success is flagged <c>isError</c>.
/// </summary>
internal static partial class ToolResults
{
    private static readonly HashSet<string> ImageTypes = ["image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"];

    public static CallToolResult From(ExecutionResult result)
    {
        var text = new StringBuilder();
        text.Append("status: ").Append(result.Status.ToWireName());
        if (result.Run.ExitCode is { } code) text.Append("\nexit code: ").Append(code);
        if (result.Run.Signal is { } signal) text.Append("\nsignal: ").Append(signal);
        text.Append("\ntime: ").Append(result.Run.ExecutionTimeMs).Append(" ms");
        if (result.Compile is { Status: not ExecutionStatus.Success } compile)
            Section(text, "compiler output", compile.Stderr.Length > 0 ? compile.Stderr : compile.Stdout);
        Section(text, "stdout", result.Run.Stdout);
        Section(text, "stderr", result.Run.Stderr);
        if (result.Run.Error is { Length: > 0 } error) Section(text, "error", error);
        var content = new List<ContentBlock> { new TextContentBlock { Text = text.ToString() } };
        var others = new List<string>();
        foreach (var file in result.Files)
        {
            var type = MimeTypes.Guess(file.Name);
            if (ImageTypes.Contains(type))
            {
                content.Add(ImageContentBlock.FromBytes(file.Content, type));
                continue;
            }
            // Other files travel as embedded resources: text where the bytes are UTF-8, else a blob.
            var uri = $"warden:///executions/{result.ExecutionId}/files/{string.Join('/', file.Name.Split('/').Select(Uri.EscapeDataString))}";
            content.Add(new EmbeddedResourceBlock
            {
                Resource = Utf8(file.Content) is { } body
                    ? new TextResourceContents { Uri = uri, MimeType = type == "application/octet-stream" ? "text/plain" : type, Text = body }
                    : BlobResourceContents.FromBytes(file.Content, uri, type),
            });
            others.Add($"{file.Name} ({file.Size} bytes)");
        }
        if (others.Count > 0) ((TextContentBlock)content[0]).Text += "\n--- other files written (attached as resources) ---\n" + string.Join('\n', others) + "\n";
        if (result.FilesTruncated) ((TextContentBlock)content[0]).Text += "(more files were written than are returned)\n";
        return new CallToolResult { Content = content, IsError = result.Status != ExecutionStatus.Success };
    }

    public static CallToolResult From(CellResult result)
    {
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        string? value = null;
        var images = new List<ContentBlock>();
        foreach (var output in result.Outputs)
        {
            switch (output)
            {
                case StreamOutput s:
                    (s.Name == "stderr" ? stderr : stdout).Append(s.Text);
                    break;
                case ExecuteResultOutput r:
                    value = PlainText(r.Data);
                    Images(r.Data, images);
                    break;
                case DisplayDataOutput d:
                    Images(d.Data, images);
                    break;
            }
        }
        var text = new StringBuilder();
        text.Append("status: ").Append(result.Status.ToWireName()).Append("\nexecution count: ").Append(result.ExecutionCount)
            .Append("\ntime: ").Append((long)result.WallTime.TotalMilliseconds).Append(" ms");
        if (result.Detail is { Length: > 0 } detail && result.Status != ExecutionStatus.Error) text.Append("\ndetail: ").Append(detail);
        Section(text, "stdout", stdout.ToString());
        Section(text, "stderr", stderr.ToString());
        if (value is not null) Section(text, "result", value);
        if (result.Error is { } error)
            Section(text, "traceback", Ansi().Replace(string.Join('\n', error.Traceback.Count > 0 ? error.Traceback : [$"{error.Name}: {error.Value}"]), ""));
        var content = new List<ContentBlock> { new TextContentBlock { Text = text.ToString() } };
        content.AddRange(images);
        return new CallToolResult { Content = content, IsError = result.Status != ExecutionStatus.Success };
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static string? Utf8(byte[] bytes)
    {
        if (Array.IndexOf(bytes, (byte)0) >= 0) return null;
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException) { return null; }
    }

    /// <summary>A refusal (bad language, limit above the ceiling, server full) as an error result the model can act on.</summary>
    public static CallToolResult Refused(WardenException e) => new()
    {
        Content = [new TextContentBlock { Text = $"refused: {WardenExceptionHandler.Classify(e).Kind}\n{e.Message}" }], IsError = true,
    };

    private static void Section(StringBuilder text, string name, string body)
    {
        if (body.Length == 0) return;
        text.Append("\n--- ").Append(name).Append(" ---\n").Append(body);
        if (body[^1] != '\n') text.Append('\n');
    }

    private static string? PlainText(JsonElement data) =>
        data.ValueKind == JsonValueKind.Object && data.TryGetProperty("text/plain", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;

    /// <summary>Rich outputs (a matplotlib figure is image/png) in the order the kernel sent them.</summary>
    private static void Images(JsonElement data, List<ContentBlock> images)
    {
        if (data.ValueKind != JsonValueKind.Object) return;
        foreach (var property in data.EnumerateObject())
        {
            if (!ImageTypes.Contains(property.Name) || property.Value.ValueKind != JsonValueKind.String) continue;
            var value = property.Value.GetString()!;
            byte[] bytes;
            if (property.Name == "image/svg+xml") bytes = Encoding.UTF8.GetBytes(value);
            else
            {
                try { bytes = Convert.FromBase64String(value.Replace("\n", "", StringComparison.Ordinal)); }
                catch (FormatException) { continue; }
            }
            images.Add(ImageContentBlock.FromBytes(bytes, property.Name));
        }
    }

    [GeneratedRegex(@"\x1b\[[0-9;]*[A-Za-z]")]
    private static partial Regex Ansi();
}
