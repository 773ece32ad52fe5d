using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Sandboxing;
using Warden.Core.Sessions;
using Warden.Server.OpenTerminalApi;

namespace Warden.Server.Hosting;

/// <summary>
/// What the server's enabled surfaces need of the backend, in one list: <see cref="BackendStartup"/> refuses to start
/// a backend that cannot serve one of them, with the setting that turns it off, instead of failing each request.
/// </summary>
public static class SurfaceRequirements
{
    public static IServiceCollection AddSurfaceRequirements(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        // Sessions, Jupyter kernels and the MCP run_python tool all hold kernels through SessionManager; a cap of 0 turns them off.
        var sessions = configuration.GetSection(SessionOptions.Section).Get<SessionOptions>() ?? new SessionOptions();
        if (sessions.MaxSessions > 0)
            services.AddSingleton(new SurfaceRequirement("sessions (/api/v1/sessions, Jupyter kernels, the MCP run_python tool)",
                BackendFeature.LongLivedSandboxes, "Warden:Sessions:MaxSessions=0 (WARDEN_MAX_SESSIONS=0)"));
        var terminal = configuration.GetSection(OpenTerminalOptions.Section).Get<OpenTerminalOptions>() ?? new OpenTerminalOptions();
        if (terminal.Enabled)
            services.AddSingleton(new SurfaceRequirement("Open Terminal (/terminal and the MCP terminal tools)",
                BackendFeature.PersistentHomes, "Warden:OpenTerminal:Enabled=false (WARDEN_OPEN_TERMINAL_ENABLED=false)"));
        return services;
    }
}
