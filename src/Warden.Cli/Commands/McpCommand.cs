using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Configuration;
using Warden.Core.Execution;
using Warden.Core.Hosting;
using Warden.Server.McpApi;

namespace Warden.Cli.Commands;

/// <summary>
/// <c>warden mcp [--backend B] [--config F] [--user NAME]</c>: an MCP server over stdio (run_code, run_python) for desktop
/// clients that start a local command. The engine runs in-process, as for <c>warden run</c>; stdout carries only the protocol.
/// </summary>
internal static class McpCommand
{
    public static Command Create()
    {
        var backend = CommonOptions.Backend();
        var config = CommonOptions.Config();
        var user = new Option<string>("--user") { Description = "The user the kernels belong to (default: default).", DefaultValueFactory = _ => "default" };
        var command = new Command("mcp", "Serve the MCP tools (run_code, run_python) over stdio.") { backend, config, user };
        command.SetAction((parse, cancellationToken) => RunAsync(parse.GetValue(backend), parse.GetValue(config), parse.GetValue(user)!, cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string? backend, string? configFile, string user, CancellationToken cancellationToken)
    {
        var overrides = new Dictionary<string, string?>();
        if (backend is not null) overrides["Warden:Backend"] = backend;
        try
        {
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
            builder.Configuration.AddWardenSources(configFile, overrides);
            // stdout is the protocol: every log line goes to stderr.
            builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
            builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            builder.Services.AddWardenCore(builder.Configuration);
            builder.Services.AddMcpStdioServer(user);
            using var host = builder.Build();
            await host.RunAsync(cancellationToken);
            return 0;
        }
        catch (WardenException e)
        {
            await Console.Error.WriteLineAsync($"warden mcp: {e.Message}");
            return RunCommand.UsageExit;
        }
        catch (OptionsValidationException e)
        {
            await Console.Error.WriteLineAsync($"warden mcp: invalid configuration: {string.Join("; ", e.Failures)}");
            return RunCommand.UsageExit;
        }
    }
}
