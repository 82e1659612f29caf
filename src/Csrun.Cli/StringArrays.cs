using System.CommandLine;
using System.CommandLine.Parsing;

namespace Csrun.Cli;

/// <summary>
/// The command line's string-array arguments and options, parsed here. Left to System.CommandLine, a collection
/// is converted through reflection over its type (its element type looked up, the array made by
/// Array.CreateInstance) and an omitted one gets its empty default the same way: in a NativeAOT start that was
/// a third of the parse of `run` (perf, 200 starts).
/// </summary>
internal static class StringArrays
{
    public static string[] Parse(ArgumentResult result)
    {
        var values = new string[result.Tokens.Count];
        for (int i = 0; i < values.Length; i++) values[i] = result.Tokens[i].Value;
        return values;
    }

    /// <summary>Zero or more values.</summary>
    public static Argument<string[]> Argument(string name, string? description = null) =>
        new(name) { Description = description, Arity = ArgumentArity.ZeroOrMore, CustomParser = Parse, DefaultValueFactory = _ => [] };

    public static Option<string[]> Option(string name, string[] aliases, string? description = null) =>
        new(name, aliases) { Description = description, CustomParser = Parse, DefaultValueFactory = _ => [] };
}
