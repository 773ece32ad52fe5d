using System.ComponentModel;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Warden.Core.Execution;
using Warden.Core.Hosting;
using Warden.Server.Hosting;
using Warden.Server.TerminalPolicies;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// The Open-Terminal-compatible surface (open-webui/open-terminal's routes, operationIds and shapes), mounted at
/// <see cref="OpenTerminalOptions.BasePath"/> with its own OpenAPI document at <c>{BasePath}/openapi.json</c>. Each
/// handler authenticates the Open WebUI user (<see cref="TerminalCaller"/>) and forwards to that user's terminal.
/// </summary>
public static class OpenTerminalApi
{
    public const string DocumentName = "terminal";
    private const string Json = "application/json";

    public static IServiceCollection AddOpenTerminalApi(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(OpenTerminalOptions.Section);
        services.AddOptions<OpenTerminalOptions>().Bind(section).ValidateWith<OpenTerminalOptions, OpenTerminalOptionsAttributes>().ValidateOnStart();
        services.AddOptions<OpenTerminalUiOptions>().Bind(section).ValidateWith<OpenTerminalUiOptions, OpenTerminalUiOptionsAttributes>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<OpenTerminalOptions>, OpenTerminalOptionsValidator>();
        services.AddHttpClient(OpenWebUiTokenValidator.ClientName, c => c.Timeout = TimeSpan.FromSeconds(10));
        services.AddSingleton<OpenWebUiTokenValidator>();
        services.AddSingleton<TerminalIdentity>();
        services.AddSingleton<TerminalSocketIdentity>();
        services.AddHostedService<TerminalHomesRecovery>();
        services.AddTerminalPolicies();
        var basePath = section.Get<OpenTerminalOptions>()?.BasePath ?? new OpenTerminalOptions().BasePath;
        services.AddOpenApi(DocumentName, o =>
        {
            o.OpenApiVersion = OpenApiSpecVersion.OpenApi3_0;
            o.ShouldInclude = d => d.GroupName == DocumentName;
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info.Title = "Warden Open Terminal";
                document.Info.Description = "Open-Terminal-compatible API: every Open WebUI user gets their own sandbox and home.";
                // Open WebUI calls {connection URL}{path}, and the connection URL already ends with the base path.
                var paths = new OpenApiPaths();
                foreach (var (path, item) in document.Paths) paths.Add(path.StartsWith(basePath, StringComparison.Ordinal) ? path[basePath.Length..] : path, item);
                document.Paths = paths;
                return Task.CompletedTask;
            });
        });
        return services;
    }

    /// <summary>An on-by-default switch; a value that is not a boolean maps nothing (start-up validation refuses it anyway).</summary>
    private static bool Switch(IConfigurationSection section, string key) => section[key] is not { } text || (bool.TryParse(text, out var on) && on);

    public static void MapOpenTerminalApi(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.Services.GetRequiredService<IOptions<OpenTerminalOptions>>().Value;
        if (!options.Enabled) return;
        // open-terminal's routes answer validation as FastAPI does; the Terminals orchestrator's admin API under
        // {base}/api/v1 answers its own 400s with a string detail, as the orchestrator does (PolicyTests).
        app.UseWhen(c => c.Request.Path.StartsWithSegments(options.BasePath, out var rest) && !rest.StartsWithSegments("/api/v1"), b =>
        {
            b.Use(DropNullQueryValues);
            b.Use(FastApiValidation.InvokeAsync);
        });
        // Identity is checked by TerminalCaller's binding, in the forms Open WebUI sends; the API-key middleware stands aside.
        var root = app.MapGroup(options.BasePath).WithMetadata(OwnAuthentication.Instance);
        root.MapGet("/openapi.json", ServeOpenApiAsync).ExcludeFromDescription();
        app.MapTerminalPoliciesApi(options.BasePath);
        app.MapTerminalAdminApi(options.BasePath);
        OpenTerminalUiApi.Map(root);
        // Read from configuration, not IOptions: resolving the validated options here would throw a bad setting's error
        // while the app is built instead of from StartAsync, where start-up validation reports it (StartupValidationTests).
        var terminal = app.Configuration.GetSection(Warden.Core.Terminals.TerminalOptions.Section);
        if (Switch(terminal, nameof(Warden.Core.Terminals.TerminalOptions.Interactive))) InteractiveTerminalsApi.Map(root);
        if (Switch(terminal, nameof(Warden.Core.Terminals.TerminalOptions.Notebooks))) OpenTerminalNotebooksApi.Map(root);

        var api = root.MapGroup("").WithGroupName(DocumentName).WithTags("terminal").WithMetadata(TerminalCaller.Owned);
        api.MapPost("/execute", RunCommandAsync).WithName("run_command").WithSummary("Execute a command").Accepts<ExecRequest>(Json)
            .WithDescription("Run a shell command in the background and return a command ID. Pass wait to get its output inline when it finishes in time. " +
                "The command runs in your own sandbox (Linux, bash, Python 3 and the host's tools under /usr; no network unless enabled); your home directory persists between chats.");
        api.MapGet("/execute", ListProcessesAsync).WithName("list_processes").WithSummary("List running commands")
            .WithDescription("Returns tracked processes for the current user and chat, including running, done, and killed.");
        api.MapGet("/execute/{process_id}/status", GetProcessStatusAsync).WithName("get_process_status").WithSummary("Get command status and output")
            .WithDescription("Returns new output since the given offset, process status, and exit code. Reads do not consume output; each reader keeps its own offset.");
        api.MapPost("/execute/{process_id}/input", SendProcessInputAsync).WithName("send_process_input").WithSummary("Send input to a running command")
            .Accepts<InputRequest>(Json)
            .WithDescription("Write text to the process's stdin. Include newline characters as needed.");
        api.MapDelete("/execute/{process_id}", KillProcessAsync).WithName("kill_process").WithSummary("Kill a running command")
            .WithDescription("Terminate the process. Sends SIGTERM by default for graceful shutdown. Use force=true to send SIGKILL.");
        OpenTerminalFilesApi.Map(api);
        OpenTerminalBrowserApi.Map(root, api, app.Services.GetRequiredService<IOptions<OpenTerminalUiOptions>>().Value);
        OpenTerminalPreviewApi.Map(root);
    }

    /// <summary>
    /// Open WebUI writes a tool's query arguments as <c>f"{k}={v}"</c>, so one the model left out arrives as "None"
    /// (or "null", which open-terminal drops for the same reason): such a value means absent, not a bad number.
    /// </summary>
    private static Task DropNullQueryValues(HttpContext context, RequestDelegate next)
    {
        static bool IsNull(string? value) => string.Equals(value, "null", StringComparison.OrdinalIgnoreCase) || value == "None";
        var query = context.Request.Query;
        if (query.Any(q => q.Value.Any(IsNull)))
        {
            context.Request.QueryString = QueryString.Create(
                query.SelectMany(q => q.Value.Where(v => !IsNull(v)).Select(v => KeyValuePair.Create(q.Key, v))));
        }
        return next(context);
    }

    private static async Task ServeOpenApiAsync(HttpContext context)
    {
        var provider = context.RequestServices.GetRequiredKeyedService<IOpenApiDocumentProvider>(DocumentName);
        var document = await provider.GetOpenApiDocumentAsync(context.RequestAborted);
        var json = await document.SerializeAsJsonAsync(OpenApiSpecVersion.OpenApi3_0, context.RequestAborted);
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.WriteAsync(json, context.RequestAborted);
    }

    private static async Task<Ok<JsonElement>> RunCommandAsync(TerminalCaller caller, HttpRequest http,
        [Description("Seconds to wait for the command to finish before returning. If the command completes in time, output is included inline. Null to return immediately.")] double? wait,
        [Description("Return only the last N output entries. Useful to limit response size when only recent output matters.")] int? tail,
        CancellationToken cancellationToken)
    {
        CheckWaitAndTail(wait, tail);
        var request = await ReadAsync<ExecRequest>(http, cancellationToken);
        if (string.IsNullOrWhiteSpace(request.Command)) throw new InvalidRequestException("command must not be empty.", "command");
        return TypedResults.Ok(await caller.Terminal.RunAsync(caller.SessionId, request.Command, request.Cwd, request.Env, wait, tail, cancellationToken));
    }

    private static async Task<Ok<IReadOnlyList<JsonElement>>> ListProcessesAsync(TerminalCaller caller, CancellationToken cancellationToken) =>
        TypedResults.Ok(await caller.Terminal.ListAsync(caller.SessionId, cancellationToken));

    private static async Task<Ok<JsonElement>> GetProcessStatusAsync(TerminalCaller caller, [FromRoute(Name = "process_id")] string processId,
        [Description("Seconds to wait for the process to finish before returning. Returns early if the process exits. Null to return immediately.")] double? wait,
        [Description("Number of output entries to skip. Use next_offset from the previous response to get only new output.")] int? offset,
        [Description("Return only the last N output entries. Useful to limit response size when only recent output matters.")] int? tail,
        CancellationToken cancellationToken)
    {
        CheckWaitAndTail(wait, tail);
        if (offset < 0) throw new InvalidRequestException("offset must be 0 or more.", "offset");
        return TypedResults.Ok(await caller.Terminal.StatusAsync(caller.SessionId, processId, wait, offset ?? 0, tail, cancellationToken));
    }

    private static async Task<Ok<JsonElement>> SendProcessInputAsync(TerminalCaller caller, [FromRoute(Name = "process_id")] string processId, HttpRequest http,
        CancellationToken cancellationToken)
    {
        var request = await ReadAsync<InputRequest>(http, cancellationToken);
        return TypedResults.Ok(await caller.Terminal.InputAsync(caller.SessionId, processId, request.Input, cancellationToken));
    }

    private static async Task<Ok<JsonElement>> KillProcessAsync(TerminalCaller caller, [FromRoute(Name = "process_id")] string processId,
        [Description("Send SIGKILL instead of SIGTERM.")] bool? force, CancellationToken cancellationToken) =>
        TypedResults.Ok(await caller.Terminal.KillAsync(caller.SessionId, processId, force ?? false, cancellationToken));

    /// <summary>
    /// A request body as open-terminal takes it: fields it does not know are ignored (Open WebUI sends every tool argument,
    /// query ones included, in the body), anything else wrong is a 400 naming the field.
    /// </summary>
    internal static Task<T> ReadAsync<T>(HttpRequest request, CancellationToken cancellationToken) where T : class =>
        RequestBody.ReadJsonAsync<T>(request, NativeApi.NativeJson.Options, UnknownFields.Ignore, cancellationToken);

    private static void CheckWaitAndTail(double? wait, int? tail)
    {
        if (wait is < 0 or > 300 || (wait is { } w && double.IsNaN(w))) throw new InvalidRequestException("wait must be between 0 and 300 seconds.", "wait");
        if (tail is < 1) throw new InvalidRequestException("tail must be 1 or more.", "tail");
    }
}
