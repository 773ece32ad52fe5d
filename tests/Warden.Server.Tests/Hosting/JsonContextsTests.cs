using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Warden.Server.NativeApi;

namespace Warden.Server.Tests.Hosting;

/// <summary>
/// The native binary has no reflection-based JSON: every body an endpoint accepts and every result it declares must come
/// from a generated context in Hosting/WardenJsonContexts. Checked on the running server's own endpoints and options, so
/// an endpoint added without its context fails here, not first in production.
/// </summary>
public sealed class JsonContextsTests
{
    [Fact]
    public async Task EveryEndpointBodyAndResult_HasGeneratedMetadata_WithoutReflection()
    {
        await using var server = await WardenTestServer.StartAsync();
        var http = server.Services.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        var types = server.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .SelectMany(e => e.Metadata.OfType<IProducesResponseTypeMetadata>().Select(m => m.Type)
                .Concat(e.Metadata.OfType<IAcceptsMetadata>().Select(m => m.RequestType)))
            .OfType<Type>()
            .Where(t => t != typeof(void) && !typeof(IResult).IsAssignableFrom(t))
            .Distinct()
            .ToList();

        Assert.Contains(typeof(ExecuteRequest), types);
        Assert.Contains(typeof(ExecuteResponse), types);
        Assert.True(types.Count >= 15, $"only {types.Count} body/result types found: the endpoint metadata was not read");
        foreach (var options in new[] { http, NativeJson.Options })
        {
            // No reflection resolver anywhere in the chain: what is not generated is missing, as in the native binary.
            Assert.DoesNotContain(options.TypeInfoResolverChain, r => r is System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver);
            var missing = types.Where(t => !options.TryGetTypeInfo(t, out _)).Select(t => t.FullName).ToList();
            Assert.True(missing.Count == 0, "no generated JSON metadata for: " + string.Join(", ", missing));
        }
    }

    [Fact]
    public void NativeJson_TypeNoContextNames_IsRefused()
    {
        // The mutation the test above guards against: a type outside every context is not serialized by reflection.
        Assert.ThrowsAny<NotSupportedException>(() => JsonSerializer.Serialize(new Unlisted(1), NativeJson.Options));
    }

    private sealed record Unlisted(int Value);
}
