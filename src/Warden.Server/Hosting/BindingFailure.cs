using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Primitives;

namespace Warden.Server.Hosting;

/// <summary>
/// Says which route or query parameter a request got wrong when ASP.NET Core could not bind it. The framework's own
/// message names the C# type ("Failed to bind parameter \"double? wait\""), so the handler's parameters are checked
/// against the request instead, and the answer reads "wait must be a number".
/// </summary>
internal static partial class BindingFailure
{
    public static (string Detail, string? Parameter) Describe(HttpContext context, BadHttpRequestException exception)
    {
        // The exception handler has cleared the endpoint and route values from the context; its feature keeps them.
        var failed = context.Features.Get<IExceptionHandlerFeature>();
        // The parameters as the binder (the request delegate generator's code) describes them; no handler MethodInfo needed.
        if (failed?.Endpoint?.Metadata.GetOrderedMetadata<IParameterBindingMetadata>() is { Count: > 0 } parameters)
        {
            var route = failed.RouteValues ?? new RouteValueDictionary();
            foreach (var parameter in parameters)
            {
                if (Check(context.Request, route, parameter.ParameterInfo, required: !parameter.IsOptional) is { } problem) return problem;
            }
        }
        // The request delegate generator's code (every handler: Native AOT) leaves no parameter list in the metadata; its
        // message names the parameter with its C# type and name, which is mapped back to the name the request used.
        if (BinderMessage().Match(exception.Message) is { Success: true } binder)
        {
            var name = RequestName(context.Request, failed?.RouteValues, binder.Groups["name"].Value);
            if (binder.Groups["kind"].Value == "Required") return ($"{name} is required.", name);
            if (DescribeTypeName(binder.Groups["type"].Value.TrimEnd('?')) is { } expected) return ($"{name} must be {expected}.", name);
        }
        if (exception.InnerException is System.Text.Json.JsonException) return ("The request body is not valid JSON for this endpoint.", null);
        // Kestrel's own refusals ("Unexpected end of request content.", "Request body too large…") name no types; the
        // binder's messages quote a parameter with its C# type and are replaced.
        return (exception.Message.Contains('"', StringComparison.Ordinal) ? "A parameter of the request could not be read." : exception.Message, null);
    }

    /// <summary>
    /// The parameter behind a bare 400 the binder wrote without throwing. The request delegate generator's code (ASP.NET
    /// Core 10) sends a route or query value that does not parse ("?limit=abc") straight to a 400 without its throw
    /// helper, whatever <see cref="RouteHandlerOptions.ThrowOnBadRequest"/> says (only missing values and bodies go
    /// through it), so the status-code page asks here: the endpoint's binding metadata, checked against the request.
    /// </summary>
    public static (string Detail, string Parameter)? DescribeUnparsed(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.GetEndpoint()?.Metadata.GetOrderedMetadata<IParameterBindingMetadata>() is not { Count: > 0 } parameters) return null;
        var route = context.Request.RouteValues;
        foreach (var parameter in parameters)
        {
            // Only values that are there and do not parse: a missing one has already thrown (and is not always the cause).
            if (Check(context.Request, route, parameter.ParameterInfo, required: false) is { Item2: { } name } problem) return (problem.Item1, name);
        }
        return null;
    }

    private static (string, string?)? Check(HttpRequest request, RouteValueDictionary route, ParameterInfo parameter, bool required)
    {
        var type = Nullable.GetUnderlyingType(parameter.ParameterType) ?? parameter.ParameterType;
        var element = type.IsArray ? type.GetElementType()! : type;
        if (Describe(element) is not { } expected) return null;
        var (name, values) = Source(request, route, parameter);
        if (StringValues.IsNullOrEmpty(values))
            return required ? ($"{name} is required.", name) : null;
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

    [GeneratedRegex("""^(?<kind>Failed to bind|Required) parameter "(?<type>[^" ]+) (?<name>[^" ]+)" """, RegexOptions.CultureInvariant)]
    private static partial Regex BinderMessage();

    /// <summary>The query or route key of a handler parameter: its own name, or its snake_case [FromQuery] name.</summary>
    private static string RequestName(HttpRequest request, RouteValueDictionary? route, string parameter)
    {
        if (request.Query.ContainsKey(parameter) || route?.ContainsKey(parameter) == true) return parameter;
        var snake = System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(parameter);
        return request.Query.ContainsKey(snake) || route?.ContainsKey(snake) == true ? snake : parameter;
    }

    private static string? DescribeTypeName(string type) => type switch
    {
        "int" or "long" or "short" or "Int32" or "Int64" or "Int16" => "an integer",
        "double" or "float" or "decimal" or "Double" or "Single" or "Decimal" => "a number",
        "bool" or "Boolean" => "true or false",
        "Guid" => "a UUID",
        _ => null,
    };

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
