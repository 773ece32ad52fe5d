using System.Text;
using Warden.Core.Execution;
using Warden.Core.Sandboxing.Files;

namespace Warden.Core.Sandboxing;

/// <summary>
/// Collects the files a finished program left in its workspace, through a <see cref="SandboxTree"/> walk: regular files
/// only, each read exactly once through the descriptor its type and size were checked on, nothing larger than what a
/// result may carry ever read (a sparse 100 GB file costs one fstat). Input files the program left unchanged are not
/// returned. Callers make sure no process of the sandbox is left first (see <see cref="ISandbox.CollectFilesAsync"/>).
/// </summary>
internal static class WorkspaceFiles
{
    public static CollectedFiles Collect(SandboxTree tree, IReadOnlyDictionary<string, string> inputs, int maxFiles, long maxBytes,
        CancellationToken cancellationToken)
    {
        var files = new List<OutputFile>();
        var skipped = new List<SkippedFile>();
        long total = 0;
        bool truncated = false;

        void Skip(string name, FileSkipReason reason)
        {
            if (reason is FileSkipReason.OverLimit or FileSkipReason.TooDeep or FileSkipReason.TooManyEntries) truncated = true;
            if (skipped.Count < CollectedFiles.MaxSkippedReported) skipped.Add(new SkippedFile(name, reason));
        }

        bool OnFile(TreeFile file)
        {
            if (inputs.TryGetValue(file.Name, out var original) && file.Size == Encoding.UTF8.GetByteCount(original))
            {
                var (same, _) = SandboxTree.ReadAll(file);
                if (same is not null && same.AsSpan().SequenceEqual(Encoding.UTF8.GetBytes(original))) return true;
                // Changed after all: the descriptor's offset moved, so take it through the usual path with a fresh read.
                if (same is not null) return Add(file.Name, same);
            }
            if (file.Size > maxBytes)
            {
                Skip(file.Name, FileSkipReason.TooLarge);
                return true;
            }
            if (files.Count >= maxFiles || total + file.Size > maxBytes)
            {
                Skip(file.Name, FileSkipReason.OverLimit);
                return true;
            }
            var (content, reason) = SandboxTree.ReadAll(file);
            if (content is null)
            {
                Skip(file.Name, reason);
                return true;
            }
            return Add(file.Name, content);
        }

        bool Add(string name, byte[] content)
        {
            if (files.Count >= maxFiles || total + content.Length > maxBytes)
            {
                Skip(name, FileSkipReason.OverLimit);
                return true;
            }
            total += content.Length;
            files.Add(new OutputFile(name, content.Length, content));
            return true;
        }

        tree.Walk(TreeLimits.Default, OnFile, Skip, cancellationToken);
        return new CollectedFiles(files, skipped, truncated);
    }
}
