using System.Globalization;
using System.Reflection;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Primitives;

namespace Warden.Server.Hosting;

/// <summary>
/// Says which route or query parameter a request got wrong when ASP.NET Core could not bind it. The framework's own
/// message names the C# type ("Failed to bind parameter \"double? wait\""), so the handler's parameters are checked
/// against the request instead, and the answer reads "wait must be a number".
/// </summary>
internal static class BindingFailure
{
    private static readonly NullabilityInfoContext Nullability = new();

    public static (string Detail, string? Parameter) Describe(HttpContext context, BadHttpRequestException exception)
    {
        // The exception handler has cleared the endpoint and route values from the context; its feature keeps them.
        var failed = context.Features.Get<IExceptionHandlerFeature>();
        if (failed?.Endpoint?.Metadata.GetMetadata<MethodInfo>() is { } handler)
        {
            var route = failed.RouteValues ?? new RouteValueDictionary();
            foreach (var parameter in handler.GetParameters())
            {
                if (Check(context.Request, route, parameter) is { } problem) return problem;
            }
        }
        if (exception.InnerException is System.Text.Json.JsonException) return ("The request body is not valid JSON for this endpoint.", null);
        // Kestrel's own refusals ("Unexpected end of request content.", "Request body too large…") name no types; the
        // binder's messages quote a parameter with its C# type and are replaced.
        return (exception.Message.Contains('"', StringComparison.Ordinal) ? "A parameter of the request could not be read." : exception.Message, null);
    }

    private static (string, string?)? Check(HttpRequest request, RouteValueDictionary route, ParameterInfo parameter)
    {
        var type = Nullable.GetUnderlyingType(parameter.ParameterType) ?? parameter.ParameterType;
        var element = type.IsArray ? type.GetElementType()! : type;
        if (Describe(element) is not { } expected) return null;
        var (name, values) = Source(request, route, parameter);
        if (StringValues.IsNullOrEmpty(values))
            return Required(parameter) ? ($"{name} is required.", name) : null;
        foreach (var value in type.IsArray ? values.ToArray() : [values.ToString()])
        {
            if (!Parses(element, value ?? "")) return ($"{name} must be {expected}.", name);
        }
        return null;
    }

    private static (string Name, StringValues Values) Source(HttpRequest request, RouteValueDictionary route,
        ParameterInfo parameter)
    {
        if (parameter.GetCustomAttribute<FromRouteAttribute>() is { } fromRoute)
            return (fromRoute.Name ?? parameter.Name!, route[fromRoute.Name ?? parameter.Name!]?.ToString());
        if (parameter.GetCustomAttribute<FromHeaderAttribute>() is { } header)
            return (header.Name ?? parameter.Name!, request.Headers[header.Name ?? parameter.Name!]);
        var name = parameter.GetCustomAttribute<FromQueryAttribute>()?.Name ?? parameter.Name!;
        // An implicit parameter named in the route template binds from the route, else from the query.
        if (route.TryGetValue(name, out var routeValue)) return (name, routeValue?.ToString());
        return (name, request.Query[name]);
    }

    private static bool Required(ParameterInfo parameter)
    {
        if (parameter.HasDefaultValue) return false;
        if (parameter.ParameterType.IsValueType) return Nullable.GetUnderlyingType(parameter.ParameterType) is null;
        return Nullability.Create(parameter).WriteState == NullabilityState.NotNull;
    }

    private static string? Describe(Type type) =>
        type == typeof(int) || type == typeof(long) || type == typeof(short) ? "an integer"
        : type == typeof(double) || type == typeof(float) || type == typeof(decimal) ? "a number"
        : type == typeof(bool) ? "true or false"
        : type == typeof(string) ? "text"
        : type == typeof(Guid) ? "a UUID"
        : null;

    private static bool Parses(Type type, string value) =>
        type == typeof(string) ? true
        : type == typeof(int) ? int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
        : type == typeof(long) ? long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
        : type == typeof(short) ? short.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
        : type == typeof(double) ? double.TryParse(value, NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out _)
        : type == typeof(float) ? float.TryParse(value, NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out _)
        : type == typeof(decimal) ? decimal.TryParse(value, NumberStyles.Number, CultureInfo.InvariantCulture, out _)
        : type == typeof(bool) ? bool.TryParse(value, out _)
        : type == typeof(Guid) ? Guid.TryParse(value, out _)
        : true;
}
