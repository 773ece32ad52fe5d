using System.Globalization;

namespace Warden.Core.Processes;

/// <summary>
/// A process's children and descendants from <c>/proc/PID/task/PID/children</c>, for hosts where no cgroup lists a
/// sandbox's processes. A process that is already gone simply has none.
/// </summary>
internal static class ProcessTree
{
    public static List<int> Children(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToList();
        }
        catch (IOException) { return []; }
    }

    /// <summary>Every process below <paramref name="root"/>, depth first, without recursion.</summary>
    public static List<int> Descendants(int root)
    {
        var found = new List<int>();
        var pending = new Stack<int>([root]);
        while (pending.Count > 0)
        {
            foreach (int child in Children(pending.Pop()))
            {
                found.Add(child);
                pending.Push(child);
            }
        }
        return found;
    }
}
