// A small reader of NumPy .npz files as np.savez writes them, for the cookbook's C++ examples.
// Header-only, C++17, no external libraries (no zlib: compressed archives are refused with a message).
//
//   npz::File const weights = npz::load("digits_cnn.npz");    // {name: Array}; throws npz::Error on any problem
//   npz::Array const& kernel = weights.at("conv1.weight");   // the key as given to np.savez, without ".npy"
//   kernel.shape;                   // std::vector<int64_t>, e.g. {16, 1, 5, 5}; {} for a 0-d array
//   kernel.data<float>();           // float const*, C order; checks that the array is float32 ("<f4")
//   kernel.values<int32_t>();       // a std::vector<int32_t> copy; checks that the array is int32 ("<i4")
//   npz::Array a = npz::parseNpy(bytes, size, "name");  // one .npy file held in memory
//
// What it reads: an .npz is a zip archive whose entries are .npy files, one per array. np.savez stores them
// uncompressed (method 0, "stored"); np.savez_compressed deflates them, which this reader refuses. Entries may carry
// ZIP64 fields (numpy writes its entries with force_zip64=True). Each .npy file is the magic "\x93NUMPY", a version
// (1.0: 2-byte header length; 2.0 and 3.0: 4-byte), a header that is a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (16, 1, 5, 5), }, then the raw data. Any dtype is read as raw
// bytes (descr and item size kept); typed access is for little-endian float32 "<f4" and int32 "<i4" (and bool
// "|b1"), in C order (fortran_order True is refused), on a little-endian host.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace npz
{

class Error : public std::runtime_error
{
public:
    explicit Error(std::string const& message)
        : std::runtime_error("npz: " + message)
    {
    }
};

struct Array
{
    std::string name;           // the key in the .npz (entry name without ".npy")
    std::string descr;          // numpy's type string, e.g. "<f4", "<i4", "|b1"
    size_t itemSize{0};         // bytes per element, from descr
    std::vector<int64_t> shape; // C order; empty for a 0-d array
    std::vector<char> bytes;    // the raw data, size() * itemSize bytes

    int64_t size() const // the number of elements (1 for a 0-d array)
    {
        int64_t n = 1;
        for (int64_t d : shape)
        {
            n *= d;
        }
        return n;
    }

    template <typename T>
    T const* data() const
    {
        checkType<T>();
        return reinterpret_cast<T const*>(bytes.data());
    }

    template <typename T>
    std::vector<T> values() const
    {
        checkType<T>();
        std::vector<T> result(static_cast<size_t>(size()));
        if constexpr (std::is_same_v<T, bool>) // std::vector<bool> packs its bits: no memcpy
        {
            for (size_t i = 0; i < result.size(); ++i)
            {
                result[i] = bytes[i] != 0;
            }
        }
        else if (!result.empty())
        {
            std::memcpy(result.data(), bytes.data(), result.size() * sizeof(T));
        }
        return result;
    }

private:
    template <typename T>
    void checkType() const
    {
        char const* wanted = nullptr;
        if constexpr (std::is_same_v<T, float>)
            wanted = "<f4";
        else if constexpr (std::is_same_v<T, int32_t>)
            wanted = "<i4";
        else if constexpr (std::is_same_v<T, bool>)
            wanted = "|b1";
        else
            static_assert(sizeof(T) == 0, "npz::Array gives typed access to float, int32_t and bool");
        uint16_t const one = 1;
        if (*reinterpret_cast<uint8_t const*>(&one) != 1)
        {
            throw Error("typed access needs a little-endian host");
        }
        if (descr != wanted)
        {
            throw Error("array '" + name + "' has dtype '" + descr + "', not '" + wanted + "'");
        }
    }
};

using File = std::map<std::string, Array>;

namespace detail
{

inline uint64_t readLE(char const* p, int bytes) // little-endian unsigned integer of 2, 4 or 8 bytes
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i)
    {
        v = (v << 8) | static_cast<uint8_t>(p[i]);
    }
    return v;
}

inline void need(bool condition, std::string const& what)
{
    if (!condition)
    {
        throw Error(what);
    }
}

// The value text after 'key': in a .npy header dict ("" when the key is absent).
inline std::string dictValue(std::string const& header, std::string const& key)
{
    size_t k = header.find("'" + key + "'");
    if (k == std::string::npos)
    {
        k = header.find("\"" + key + "\"");
    }
    if (k == std::string::npos)
    {
        return "";
    }
    size_t i = header.find(':', k + key.size() + 2);
    if (i == std::string::npos)
    {
        return "";
    }
    ++i;
    while (i < header.size() && header[i] == ' ')
    {
        ++i;
    }
    if (i >= header.size())
    {
        return "";
    }
    if (header[i] == '\'' || header[i] == '"') // a string
    {
        size_t const close = header.find(header[i], i + 1);
        return close == std::string::npos ? "" : header.substr(i + 1, close - i - 1);
    }
    if (header[i] == '(') // a tuple
    {
        size_t const close = header.find(')', i);
        return close == std::string::npos ? "" : header.substr(i, close - i + 1);
    }
    size_t end = i;
    while (end < header.size() && header[end] != ',' && header[end] != '}')
    {
        ++end;
    }
    return header.substr(i, end - i);
}

inline std::vector<int64_t> parseShape(std::string const& tuple, std::string const& name)
{
    need(tuple.size() >= 2 && tuple.front() == '(' && tuple.back() == ')', "'" + name + "': bad shape " + tuple);
    std::vector<int64_t> shape;
    std::string number;
    for (size_t i = 1; i < tuple.size(); ++i)
    {
        char const c = tuple[i];
        if (c >= '0' && c <= '9')
        {
            number.push_back(c);
        }
        else if (c == ',' || c == ')')
        {
            if (!number.empty())
            {
                shape.push_back(std::stoll(number));
                number.clear();
            }
        }
        else if (c != ' ' && c != 'L') // 'L': Python 2 long integers in old files
        {
            throw Error("'" + name + "': bad shape " + tuple);
        }
    }
    return shape;
}

inline size_t itemSizeOf(std::string const& descr, std::string const& name)
{
    size_t i = 0;
    while (i < descr.size() && !(descr[i] >= '0' && descr[i] <= '9'))
    {
        ++i;
    }
    need(i < descr.size(), "'" + name + "': unsupported dtype '" + descr + "' (structured or object arrays)");
    return static_cast<size_t>(std::stoul(descr.substr(i)));
}

} // namespace detail

// One .npy file held in memory (data[0, size)).
inline Array parseNpy(char const* data, size_t size, std::string const& name)
{
    using detail::need;
    need(size >= 10 && std::memcmp(data, "\x93NUMPY", 6) == 0, "'" + name + "' is not a .npy file");
    int const major = static_cast<uint8_t>(data[6]);
    need(major >= 1 && major <= 3, "'" + name + "': unsupported .npy version " + std::to_string(major));
    size_t const lengthBytes = major == 1 ? 2 : 4;
    need(size >= 8 + lengthBytes, "'" + name + "': truncated header");
    size_t const headerLength = static_cast<size_t>(detail::readLE(data + 8, static_cast<int>(lengthBytes)));
    size_t const dataStart = 8 + lengthBytes + headerLength;
    need(dataStart <= size, "'" + name + "': truncated header");
    std::string const header(data + 8 + lengthBytes, headerLength);

    Array array;
    array.name = name;
    array.descr = detail::dictValue(header, "descr");
    need(!array.descr.empty(), "'" + name + "': no 'descr' in the header " + header);
    need(detail::dictValue(header, "fortran_order") == "False", "'" + name + "': Fortran order is not supported");
    array.shape = detail::parseShape(detail::dictValue(header, "shape"), name);
    array.itemSize = detail::itemSizeOf(array.descr, name);
    size_t const count = static_cast<size_t>(array.size()) * array.itemSize;
    need(dataStart + count <= size, "'" + name + "': " + std::to_string(count) + " data bytes expected, "
                                        + std::to_string(size - dataStart) + " present");
    array.bytes.assign(data + dataStart, data + dataStart + count);
    return array;
}

// Every array of an .npz file written by np.savez: {key: Array}.
inline File load(std::string const& path)
{
    using detail::need;
    using detail::readLE;
    std::ifstream in(path, std::ios::binary);
    need(static_cast<bool>(in), "cannot open " + path);
    std::vector<char> const zip((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t const n = zip.size();

    // End of central directory record (22 bytes + a comment of up to 65535 bytes), searched from the end.
    need(n >= 22, path + " is not a zip archive (too short)");
    size_t eocd = std::string::npos;
    for (size_t i = n - 22 + 1; i-- > 0 && n - i <= 22 + 65535;)
    {
        if (readLE(&zip[i], 4) == 0x06054b50)
        {
            eocd = i;
            break;
        }
    }
    need(eocd != std::string::npos, path + " is not a zip archive (no end of central directory)");
    uint64_t entries = readLE(&zip[eocd + 10], 2);
    uint64_t directory = readLE(&zip[eocd + 16], 4);
    if ((entries == 0xFFFF || directory == 0xFFFFFFFF) && eocd >= 20 && readLE(&zip[eocd - 20], 4) == 0x07064b50)
    {
        uint64_t const record = readLE(&zip[eocd - 20 + 8], 8); // ZIP64 end of central directory record
        need(record + 56 <= n && readLE(&zip[record], 4) == 0x06064b50, path + ": bad ZIP64 end record");
        entries = readLE(&zip[record + 32], 8);
        directory = readLE(&zip[record + 48], 8);
    }

    File file;
    uint64_t p = directory;
    for (uint64_t e = 0; e < entries; ++e)
    {
        need(p + 46 <= n && readLE(&zip[p], 4) == 0x02014b50, path + ": bad central directory entry");
        uint64_t const method = readLE(&zip[p + 10], 2);
        uint64_t compressed = readLE(&zip[p + 20], 4);
        uint64_t uncompressed = readLE(&zip[p + 24], 4);
        uint64_t const nameLength = readLE(&zip[p + 28], 2);
        uint64_t const extraLength = readLE(&zip[p + 30], 2);
        uint64_t const commentLength = readLE(&zip[p + 32], 2);
        uint64_t local = readLE(&zip[p + 42], 4);
        need(p + 46 + nameLength + extraLength <= n, path + ": truncated central directory");
        std::string name(&zip[p + 46], nameLength);
        // ZIP64 extended information (id 0x0001): the 8-byte values of the fields set to 0xFFFFFFFF, in this order
        for (uint64_t x = p + 46 + nameLength; x + 4 <= p + 46 + nameLength + extraLength;)
        {
            uint64_t const id = readLE(&zip[x], 2), length = readLE(&zip[x + 2], 2);
            uint64_t v = x + 4;
            if (id == 0x0001)
            {
                if (uncompressed == 0xFFFFFFFF && v + 8 <= x + 4 + length)
                {
                    uncompressed = readLE(&zip[v], 8);
                    v += 8;
                }
                if (compressed == 0xFFFFFFFF && v + 8 <= x + 4 + length)
                {
                    compressed = readLE(&zip[v], 8);
                    v += 8;
                }
                if (local == 0xFFFFFFFF && v + 8 <= x + 4 + length)
                {
                    local = readLE(&zip[v], 8);
                }
            }
            x += 4 + length;
        }
        p += 46 + nameLength + extraLength + commentLength;

        need(method == 0, path + ": entry '" + name + "' is compressed (np.savez_compressed): save it with np.savez");
        need(compressed == uncompressed, path + ": entry '" + name + "' has different stored and data sizes");
        need(local + 30 <= n && readLE(&zip[local], 4) == 0x04034b50, path + ": bad local header of '" + name + "'");
        uint64_t const start = local + 30 + readLE(&zip[local + 26], 2) + readLE(&zip[local + 28], 2);
        need(start + compressed <= n, path + ": entry '" + name + "' is truncated");
        if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0)
        {
            name.erase(name.size() - 4);
        }
        file[name] = parseNpy(&zip[start], static_cast<size_t>(compressed), name);
    }
    return file;
}

} // namespace npz
