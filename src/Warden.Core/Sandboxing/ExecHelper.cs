namespace Warden.Core.Sandboxing;

/// <summary>Finds <c>warden-exec</c>: configured path, else next to the assemblies.</summary>
internal static class ExecHelper
{
    public static string Locate(WardenOptions options) => options.ExecHelperPath ?? Path.Combine(AppContext.BaseDirectory, "warden-exec");
}
