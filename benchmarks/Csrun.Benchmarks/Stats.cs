namespace Csrun.Benchmarks;

/// <summary>The order statistics the reports quote, computed as BenchmarkDotNet computes its own.</summary>
internal static class Stats
{
    // Linear interpolation between closest ranks, as BenchmarkDotNet computes its percentiles.
    public static double Percentile(List<double> sorted, double p)
    {
        double rank = p * (sorted.Count - 1);
        int lo = (int)Math.Floor(rank), hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }

    /// <summary>The median of unsorted values (the mean of the middle two for an even count).</summary>
    public static double Median(IEnumerable<double> values) => Percentile(values.Order().ToList(), 0.5);
}
