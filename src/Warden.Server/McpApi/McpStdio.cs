using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Protocol;
using Warden.Core.Execution;
using Warden.Core.Ownership;
using Warden.Server.Hosting;

namespace Warden.Server.McpApi;

/// <summary>
/// The MCP server over stdio for <c>warden mcp</c>: the engine in-process, one local user. Only the sandboxes a desktop
/// client needs (run_code, run_python); the terminal tools stay with <c>warden serve</c>, whose state directory holds the
/// users' homes.
/// </summary>
public static class McpStdio
{
    public static IServiceCollection AddMcpStdioServer(this IServiceCollection services, string user)
    {
        if (!Principal.IsValidName(user)) throw new InvalidRequestException($"--user must be 1 to {Principal.MaxUserLength} characters without control characters.", "user");
        var owner = new Principal(Principal.ServerTenant, user);
        services.AddSingleton<McpKernels>();
        services.AddSingleton<IMcpCaller>(provider => new LocalMcpCaller(owner, provider.GetRequiredService<ExecutionEngine>()));
        services.AddMcpServer(o =>
            {
                o.ServerInfo = new Implementation { Name = "warden", Title = "Warden", Version = WardenVersion.Current };
                o.ServerInstructions = McpApi.Instructions;
            })
            .WithStdioServerTransport()
            .WithTools<RunCodeTool>()
            .WithTools<RunPythonTool>();
        return services;
    }
}
