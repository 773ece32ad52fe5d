using Warden.Core.Execution;

namespace Warden.Core.Sandboxing;

/// <summary>Validation of file names a caller places in a workspace: relative, no "..", no NUL, bounded.</summary>
public static class WorkspacePaths
{
    public static string Validate(string name)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new InvalidRequestException("A file name is empty.", "files");
        if (name.Length > 255 || name.Contains('\0') || name.Contains('\\'))
            throw new InvalidRequestException($"File name '{Trim(name)}' is not allowed.", "files");
        if (name.StartsWith('/')) throw new InvalidRequestException($"File name '{Trim(name)}' must be relative to the workspace.", "files");
        var parts = name.Split('/');
        if (parts.Any(p => p is "" or "." or ".."))
            throw new InvalidRequestException($"File name '{Trim(name)}' must not contain empty, '.' or '..' segments.", "files");
        return name;
    }

    private static string Trim(string name) => name.Length > 60 ? name[..60] + "…" : name.Replace("\0", "\\0");
}
