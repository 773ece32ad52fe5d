using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Warden.Server.Tests;

internal static class Json
{
    public static StringContent Body(object value) =>
        new(JsonSerializer.Serialize(value), Encoding.UTF8, "application/json");

    public static async Task<JsonElement> ReadAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken));

    public static async Task<(HttpResponseMessage Response, JsonElement Body)> PostAsync(HttpClient client, string path, object body)
    {
        var response = await client.PostAsync(path, Body(body), TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60));
        return (response, await ReadAsync(response));
    }
}
