namespace Csrun.Cgroups.V2;

/// <summary>Builds the BPF_PROG_TYPE_CGROUP_DEVICE program enforcing a <see cref="DeviceRuleSet"/> on cgroup v2.
/// The program sees struct bpf_cgroup_dev_ctx { u32 access_type (access &lt;&lt; 16 | type); u32 major; u32 minor; }
/// and returns 1 to allow, 0 to deny (EPERM). Each exception becomes one block that falls through to the next
/// on mismatch; the last block returns the default.</summary>
public static class DeviceFilter
{
    // Registers: R1 = ctx, then scratch; R2 = device type; R3 = requested access; R4 = major; R5 = minor.
    private const byte R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5;

    private const byte LdxMemW = 0x61;  // BPF_LDX | BPF_MEM | BPF_W
    private const byte Alu32AndK = 0x54, Alu32RshK = 0x74, Alu32MovK = 0xb4, Alu32MovX = 0xbc;
    private const byte JmpJneK = 0x55, JmpJeqK = 0x15, Jmp32JneK = 0x56, Exit = 0x95;

    private const int DevBlock = 1, DevChar = 2;  // BPF_DEVCG_DEV_*

    public static ulong[] Build(DeviceRuleSet rules)
    {
        var p = new List<ulong>(8 + rules.Exceptions.Count * 8)
        {
            Insn(LdxMemW, R2, R1, 0, 0),
            Insn(Alu32AndK, R2, 0, 0, 0xFFFF),
            Insn(LdxMemW, R3, R1, 0, 0),
            Insn(Alu32RshK, R3, 0, 0, 16),
            Insn(LdxMemW, R4, R1, 4, 0),
            Insn(LdxMemW, R5, R1, 8, 0),
        };
        int result = rules.DefaultAllow ? 0 : 1;
        foreach (var e in rules.Exceptions) AppendBlock(p, e, rules.DefaultAllow, result);
        p.Add(Insn(Alu32MovK, R0, 0, 0, rules.DefaultAllow ? 1 : 0));
        p.Add(Insn(Exit, 0, 0, 0, 0));
        return p.ToArray();
    }

    private static void AppendBlock(List<ulong> p, DeviceRule e, bool defaultAllow, int result)
    {
        // Jumps are emitted with a placeholder offset and patched to "end of block" once its length is known.
        var jumps = new List<int>(4);
        if (e.Type != 'a')
        {
            jumps.Add(p.Count);
            p.Add(Insn(JmpJneK, R2, 0, 0, e.Type == 'c' ? DevChar : DevBlock));
        }
        int acc = (int)e.Access;
        if (e.Access != DeviceAccess.All)
        {
            p.Add(Insn(Alu32MovX, R1, R3, 0, 0));
            if (defaultAllow)
            {
                // Deny-list: any requested bit this exception names denies.
                p.Add(Insn(Alu32AndK, R1, 0, 0, acc));
                jumps.Add(p.Count);
                p.Add(Insn(JmpJeqK, R1, 0, 0, 0));
            }
            else
            {
                // Allow-list: the exception must cover every requested bit.
                p.Add(Insn(Alu32AndK, R1, 0, 0, ~acc & (int)DeviceAccess.All));
                jumps.Add(p.Count);
                p.Add(Insn(JmpJneK, R1, 0, 0, 0));
            }
        }
        if (e.Major != DeviceRule.Any) { jumps.Add(p.Count); p.Add(CompareNe(R4, e.Major)); }
        if (e.Minor != DeviceRule.Any) { jumps.Add(p.Count); p.Add(CompareNe(R5, e.Minor)); }
        p.Add(Insn(Alu32MovK, R0, 0, 0, result));
        p.Add(Insn(Exit, 0, 0, 0, 0));
        int end = p.Count;
        foreach (int j in jumps) p[j] = WithOffset(p[j], (short)(end - (j + 1)));
    }

    // The loaded u32 is zero-extended while a 64-bit compare sign-extends the immediate, so numbers above
    // int.MaxValue need the 32-bit compare (kernel 5.1+); everything realistic takes the older form.
    private static ulong CompareNe(byte reg, long value) =>
        value <= int.MaxValue ? Insn(JmpJneK, reg, 0, 0, (int)value) : Insn(Jmp32JneK, reg, 0, 0, unchecked((int)(uint)value));

    private static ulong Insn(byte code, byte dst, byte src, short off, int imm) =>
        code | (ulong)(byte)(dst | (src << 4)) << 8 | (ulong)(ushort)off << 16 | (ulong)(uint)imm << 32;

    private static ulong WithOffset(ulong insn, short off) => (insn & ~(0xFFFFUL << 16)) | (ulong)(ushort)off << 16;
}
