using System.CommandLine;
using Microsoft.Extensions.Options;
using Warden.Server;

namespace Warden.Cli.Commands;

/// <summary><c>warden serve [--urls URL] [--backend NAME] [--config FILE]</c>: the HTTP server, default http://127.0.0.1:8090.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var urls = new Option<string?>("--urls") { Description = $"Listen addresses (default {WardenServer.DefaultUrls})." };
        var backend = CommonOptions.Backend();
        var config = CommonOptions.Config();
        var command = new Command("serve", "Serve the HTTP API.") { urls, backend, config };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var overrides = new Dictionary<string, string?>();
            if (parse.GetValue(urls) is { } u) overrides["Warden:Urls"] = u;
            if (parse.GetValue(backend) is { } b) overrides["Warden:Backend"] = b;
            try
            {
                var app = WardenServer.Build(new ServerStartOptions { ConfigFile = parse.GetValue(config), Overrides = overrides });
                await app.RunAsync();
                return 0;
            }
            catch (OptionsValidationException e)
            {
                await Console.Error.WriteLineAsync($"warden serve: invalid configuration: {string.Join("; ", e.Failures)}");
                return 2;
            }
            catch (Exception e) when (e is InvalidOperationException or FileNotFoundException or IOException)
            {
                await Console.Error.WriteLineAsync($"warden serve: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
