using System.Globalization;
using System.Text;
using Csrun.Cri.Logs;

namespace Csrun.Cri.Tests;

public sealed class CriLogTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static (DateTimeOffset Time, string Stream, string Tag, string Content)[] Parse(string path) =>
        File.ReadAllLines(path).Select(l =>
        {
            var p = l.Split(' ', 4);
            return (DateTimeOffset.Parse(p[0], CultureInfo.InvariantCulture), p[1], p[2], p[3]);
        }).ToArray();

    [Fact]
    public void LinesBecomeTimestampedRecordsPerStream()
    {
        string path = _dir.Combine("pod", "c", "0.log");
        using (var w = new CriLogWriter(path))
        {
            w.Write(CriStream.Stdout, "hello\nwor"u8);
            w.Write(CriStream.Stderr, "oops\n"u8);
            w.Write(CriStream.Stdout, "ld\n\nno newline"u8);
        }
        var recs = Parse(path);
        Assert.Equal([("stdout", "F", "hello"), ("stderr", "F", "oops"), ("stdout", "F", "world"), ("stdout", "F", ""), ("stdout", "F", "no newline")],
            recs.Select(r => (r.Stream, r.Tag, r.Content)));
        Assert.All(recs, r => Assert.True(Math.Abs((DateTimeOffset.UtcNow - r.Time).TotalMinutes) < 5, "timestamp is not now"));
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout F hello$", File.ReadLines(path).First());
    }

    [Fact]
    public void LongLinesAreSplitIntoPartialRecords()
    {
        string path = _dir.Combine("long.log");
        using (var w = new CriLogWriter(path, maxLine: 10))
            w.Write(CriStream.Stdout, Encoding.ASCII.GetBytes(new string('a', 25) + "\nshort\n"));
        Assert.Equal([("P", "aaaaaaaaaa"), ("P", "aaaaaaaaaa"), ("F", "aaaaa"), ("F", "short")], Parse(path).Select(r => (r.Tag, r.Content)));
    }

    [Fact]
    public void ReopenStartsANewFileAfterRotation()
    {
        string path = _dir.Combine("r.log");
        using var w = new CriLogWriter(path);
        w.Write(CriStream.Stdout, "before\n"u8);
        File.Move(path, path + ".1");
        w.Reopen();
        w.Write(CriStream.Stdout, "after\n"u8);
        Assert.Equal("before", Parse(path + ".1").Single().Content);
        Assert.Equal("after", Parse(path).Single().Content);
    }
}
