using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Csrun.Benchmarks;

/// <summary>
/// Peak RSS of the runtime process, from the separate, untimed measurement loop in
/// <see cref="PeakRss"/> (BenchmarkDotNet's MemoryDiagnoser only sees the managed heap of its
/// own process).
/// </summary>
public sealed class PeakRssColumn(BenchSettings settings) : IColumn
{
    public string Id => nameof(PeakRssColumn);
    public string ColumnName => "Peak RSS MiB";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Median over separate runs of the runtime's ru_maxrss (largest process in its tree; GNU time -f %M), MiB";
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
        benchmarkCase.Parameters["Runtime"] is string runtime && PeakRss.MedianMiB(settings, runtime) is double v
            ? v.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)
            : "?";
}
