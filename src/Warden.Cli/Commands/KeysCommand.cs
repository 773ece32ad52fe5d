using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Configuration;
using Warden.Core;
using Warden.Core.Configuration;
using Warden.Server.Auth;
using Warden.Server.Data;

namespace Warden.Cli.Commands;

/// <summary>
/// <c>warden keys create|list|revoke</c>: the API keys a server accepts, in the same database it uses (the state
/// directory's SQLite file, or WARDEN_DATABASE_URL). A key is printed once, at creation; only its hash is stored.
/// A running server sees a new key at once and a revocation within a few seconds.
/// </summary>
internal static class KeysCommand
{
    public static Command Create()
    {
        var config = CommonOptions.Config();
        var name = new Option<string>("--name") { Description = "What the key is for (e.g. open-webui).", Required = true };
        var scopes = new Option<string[]>("--scope")
        {
            Description = "execute (run code; the default) or admin (manage keys, read all history, metrics). Repeatable.",
            AllowMultipleArgumentsPerToken = true,
        };
        var json = new Option<bool>("--json") { Description = "Machine-readable output." };
        var id = new Argument<string>("id") { Description = "The key's id (from `warden keys list`)." };

        var create = new Command("create", "Create an API key and print it (once).") { name, scopes, config, json };
        create.SetAction(async (parse, ct) => await WithStoreAsync(parse.GetValue(config), async store =>
        {
            var chosen = parse.GetValue(scopes) is { Length: > 0 } s ? s : [ApiKeyScopes.Execute];
            var created = await store.CreateAsync(parse.GetValue(name)!, chosen, ct);
            if (parse.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new CreatedKeyLine(created.Record.Id, created.Record.Name, created.Record.Scopes, created.Key), KeysJson.Default.CreatedKeyLine));
            else
            {
                Console.WriteLine(created.Key);
                await Console.Error.WriteLineAsync($"Created key {created.Record.Id} ({created.Record.Name}, scopes {string.Join(",", created.Record.Scopes)}). " +
                    "It is shown only now: store it safely.");
            }
            return 0;
        }));

        var list = new Command("list", "List API keys (never the secrets).") { config, json };
        list.SetAction(async (parse, ct) => await WithStoreAsync(parse.GetValue(config), async store =>
        {
            var keys = await store.ListAsync(ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(keys.Select(k => new KeyLine(k.Id, k.Name, k.Scopes, k.CreatedAt, k.RevokedAt, k.Active)).ToList(),
                    KeysJson.Default.ListKeyLine));
                return 0;
            }
            Console.WriteLine($"{"ID",-14} {"NAME",-24} {"SCOPES",-16} {"CREATED (UTC)",-20} STATE");
            foreach (var k in keys)
            {
                Console.WriteLine($"{k.Id,-14} {Truncate(k.Name, 24),-24} {string.Join(",", k.Scopes),-16} " +
                    $"{k.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),-20} {(k.Active ? "active" : "revoked")}");
            }
            return 0;
        }));

        var revoke = new Command("revoke", "Revoke an API key.") { id, config };
        revoke.SetAction(async (parse, ct) => await WithStoreAsync(parse.GetValue(config), async store =>
        {
            var keyId = parse.GetValue(id)!;
            if (await store.RevokeAsync(keyId, ct))
            {
                Console.WriteLine($"Revoked {keyId}.");
                return 0;
            }
            await Console.Error.WriteLineAsync($"warden keys revoke: no active key with id '{keyId}'.");
            return 1;
        }));

        return new Command("keys", "Manage API keys (scopes: execute, admin).") { create, list, revoke };
    }

    private static async Task<int> WithStoreAsync(string? configFile, Func<ApiKeyStore, Task<int>> action)
    {
        try
        {
            var configuration = new ConfigurationBuilder().AddWardenSources(configFile).Build();
            var state = configuration["Warden:StateDirectory"] ?? WardenOptions.DefaultStateDirectory();
            await using var database = WardenDatabase.Open(configuration["Warden:Database:ConnectionString"], state);
            return await action(new ApiKeyStore(database, TimeProvider.System));
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync($"warden keys: {e.Message.Split(" (Parameter")[0]}");
            return 2;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or System.Data.Common.DbException)
        {
            await Console.Error.WriteLineAsync($"warden keys: {e.Message}");
            return 1;
        }
    }

    private static string Truncate(string text, int width) => text.Length <= width ? text : text[..(width - 1)] + "…";
}

/// <summary><c>warden keys create --json</c>: the key, shown once.</summary>
internal sealed record CreatedKeyLine(string Id, string Name, IReadOnlyList<string> Scopes, string Key);

/// <summary>One key of <c>warden keys list --json</c> (never the secret).</summary>
internal sealed record KeyLine(string Id, string Name, IReadOnlyList<string> Scopes, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt, bool Active);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(CreatedKeyLine))]
[JsonSerializable(typeof(List<KeyLine>))]
internal sealed partial class KeysJson : JsonSerializerContext;
