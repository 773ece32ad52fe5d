namespace Warden.Server.NativeApi;

/// <summary>Content types of produced files, so clients can show images inline.</summary>
public static class MimeTypes
{
    private static readonly Dictionary<string, string> ByExtension = new(StringComparer.OrdinalIgnoreCase)
    {
        [".png"] = "image/png", [".jpg"] = "image/jpeg", [".jpeg"] = "image/jpeg", [".gif"] = "image/gif", [".svg"] = "image/svg+xml",
        [".webp"] = "image/webp", [".txt"] = "text/plain", [".csv"] = "text/csv", [".json"] = "application/json", [".html"] = "text/html",
        [".md"] = "text/markdown", [".pdf"] = "application/pdf", [".xml"] = "application/xml", [".zip"] = "application/zip",
    };

    public static string Guess(string name) => ByExtension.GetValueOrDefault(Path.GetExtension(name), "application/octet-stream");
}
