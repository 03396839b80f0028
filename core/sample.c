/*
 * Deterministic sample data generator (see sample.h for the file formats).
 *
 * Every customer and every item is a pure function of (seed, index): each
 * gets its own PRNG stream, so customers.csv is written in one pass and the
 * orders pass regenerates the few attributes it needs instead of keeping a
 * million customers in memory. Orders are generated in time order; returns
 * wait in a small heap until their time comes, so orders.csv is sorted by
 * ordered_at as a real export would be.
 */
#include "sample.h"

#include "atomic_file.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * PRNG: xoshiro256** seeded through splitmix64, one stream per entity.
 */
struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* The stream of entity INDEX of kind STREAM under SEED. */
static void rng_init(struct rng *r, uint64_t seed, uint64_t stream,
                     uint64_t index)
{
    uint64_t x = seed;
    uint64_t a = splitmix64(&x);
    x = a ^ (stream * 0xd1b54a32d192ed03u) ^ (index * 0x9e3779b97f4a7c15u);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, N), N > 0, without modulo bias. */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
    uint64_t limit = -n % n; /* values below this would be biased */
    for (;;) {
        uint64_t x = rng_next(r);
        if (x >= limit)
            return x % n;
    }
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* An index of W (N weights, not all zero) chosen in proportion to them. */
static size_t rng_pick(struct rng *r, const double *w, size_t n)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    double x = rng_unit(r) * total;
    for (size_t i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    for (size_t i = n; i-- > 0;)
        if (w[i] > 0)
            return i;
    return 0;
}

/* ------------------------------------------------------------------------
 * Reference data
 */

/* A name and its ASCII transliteration (for e-mail addresses). */
struct name {
    const char *text, *ascii;
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct country {
    const char *code, *tz;
    const char *cities[4];
    int ncities;
};

static const struct country countries[] = {
    {"GB",
     "Europe/London",
     {"London", "Manchester", "Edinburgh", "Bristol"},
     4},
    {"IE", "Europe/Dublin", {"Dublin", "Cork", "Galway"}, 3},
    {"DE", "Europe/Berlin", {"Berlin", "München", "Köln", "Hamburg"}, 4},
    {"AT", "Europe/Vienna", {"Wien", "Graz", "Linz"}, 3},
    {"FR", "Europe/Paris", {"Paris", "Lyon", "Marseille", "Nantes"}, 4},
    {"ES", "Europe/Madrid", {"Madrid", "Sevilla", "Málaga", "Valencia"}, 4},
    {"PL", "Europe/Warsaw", {"Warszawa", "Kraków", "Łódź", "Gdańsk"}, 4},
    {"UA", "Europe/Kyiv", {"Київ", "Львів", "Одеса"}, 3},
    {"LV", "Europe/Riga", {"Rīga", "Daugavpils"}, 2},
    {"SE", "Europe/Stockholm", {"Stockholm", "Göteborg", "Malmö"}, 3},
};
enum { GB, IE, DE, AT, FR, ES, PL, UA, LV, SE };

static const struct name en_m[] = {{"James", "james"},     {"Oliver", "oliver"},
                                   {"Harry", "harry"},     {"George", "george"},
                                   {"William", "william"}, {"Noah", "noah"}};
static const struct name en_f[] = {{"Emma", "emma"},     {"Olivia", "olivia"},
                                   {"Amelia", "amelia"}, {"Sophie", "sophie"},
                                   {"Isla", "isla"},     {"Grace", "grace"}};
static const struct name en_l[] = {{"Smith", "smith"},    {"Jones", "jones"},
                                   {"Taylor", "taylor"},  {"Brown", "brown"},
                                   {"O'Neill", "oneill"}, {"Walsh", "walsh"},
                                   {"Wilson", "wilson"},  {"Evans", "evans"}};
static const struct name de_m[] = {{"Lukas", "lukas"},
                                   {"Jürgen", "juergen"},
                                   {"Felix", "felix"},
                                   {"Maximilian", "maximilian"},
                                   {"Jonas", "jonas"}};
static const struct name de_f[] = {{"Lena", "lena"},
                                   {"Hannah", "hannah"},
                                   {"Mia", "mia"},
                                   {"Jule", "jule"},
                                   {"Sophia", "sophia"}};
static const struct name de_l[] = {{"Müller", "mueller"},
                                   {"Schmidt", "schmidt"},
                                   {"Schäfer", "schaefer"},
                                   {"Weiß", "weiss"},
                                   {"Becker", "becker"}};
static const struct name fr_m[] = {{"Théo", "theo"},
                                   {"Louis", "louis"},
                                   {"Hugo", "hugo"},
                                   {"Gabriel", "gabriel"},
                                   {"Jérôme", "jerome"}};
static const struct name fr_f[] = {{"Chloé", "chloe"},
                                   {"Léa", "lea"},
                                   {"Manon", "manon"},
                                   {"Camille", "camille"},
                                   {"Inès", "ines"}};
static const struct name fr_l[] = {{"Dubois", "dubois"},
                                   {"Lefèvre", "lefevre"},
                                   {"Moreau", "moreau"},
                                   {"Laurent", "laurent"},
                                   {"Girard", "girard"}};
static const struct name es_m[] = {{"José", "jose"},
                                   {"Javier", "javier"},
                                   {"Álvaro", "alvaro"},
                                   {"Pablo", "pablo"},
                                   {"Íñigo", "inigo"}};
static const struct name es_f[] = {{"Lucía", "lucia"},
                                   {"María", "maria"},
                                   {"Sofía", "sofia"},
                                   {"Carmen", "carmen"},
                                   {"Elena", "elena"}};
static const struct name es_l[] = {{"García", "garcia"},
                                   {"Fernández", "fernandez"},
                                   {"López", "lopez"},
                                   {"Núñez", "nunez"},
                                   {"Martín", "martin"}};
static const struct name pl_m[] = {{"Łukasz", "lukasz"},
                                   {"Paweł", "pawel"},
                                   {"Jakub", "jakub"},
                                   {"Michał", "michal"},
                                   {"Krzysztof", "krzysztof"}};
static const struct name pl_f[] = {{"Małgorzata", "malgorzata"},
                                   {"Agnieszka", "agnieszka"},
                                   {"Zofia", "zofia"},
                                   {"Katarzyna", "katarzyna"},
                                   {"Żaneta", "zaneta"}};
static const struct name pl_lm[] = {{"Kowalski", "kowalski"},
                                    {"Wiśniewski", "wisniewski"},
                                    {"Wójcik", "wojcik"},
                                    {"Nowak", "nowak"},
                                    {"Zieliński", "zielinski"}};
static const struct name pl_lf[] = {{"Kowalska", "kowalska"},
                                    {"Wiśniewska", "wisniewska"},
                                    {"Wójcik", "wojcik"},
                                    {"Nowak", "nowak"},
                                    {"Zielińska", "zielinska"}};
static const struct name ru_m[] = {{"Алексей", "aleksey"},
                                   {"Дмитрий", "dmitry"},
                                   {"Иван", "ivan"},
                                   {"Сергей", "sergey"},
                                   {"Михаил", "mikhail"}};
static const struct name ru_f[] = {{"Анна", "anna"},
                                   {"Мария", "mariya"},
                                   {"Екатерина", "ekaterina"},
                                   {"Ольга", "olga"},
                                   {"Наталья", "natalya"}};
static const struct name ru_lm[] = {{"Иванов", "ivanov"},
                                    {"Смирнов", "smirnov"},
                                    {"Кузнецов", "kuznetsov"},
                                    {"Попов", "popov"},
                                    {"Соколов", "sokolov"}};
static const struct name ru_lf[] = {{"Иванова", "ivanova"},
                                    {"Смирнова", "smirnova"},
                                    {"Кузнецова", "kuznetsova"},
                                    {"Попова", "popova"},
                                    {"Соколова", "sokolova"}};
static const struct name ua_m[] = {{"Андрій", "andrii"},
                                   {"Тарас", "taras"},
                                   {"Богдан", "bohdan"},
                                   {"Олександр", "oleksandr"},
                                   {"Юрій", "yurii"}};
static const struct name ua_f[] = {{"Олена", "olena"},
                                   {"Оксана", "oksana"},
                                   {"Ірина", "iryna"},
                                   {"Наталія", "nataliia"},
                                   {"Юлія", "yuliia"}};
static const struct name ua_l[] = {{"Шевченко", "shevchenko"},
                                   {"Коваленко", "kovalenko"},
                                   {"Бондаренко", "bondarenko"},
                                   {"Ткаченко", "tkachenko"},
                                   {"Мельник", "melnyk"}};
static const struct name fa_m[] = {{"رضا", "reza"},
                                   {"علی", "ali"},
                                   {"امیر", "amir"},
                                   {"محمد", "mohammad"},
                                   {"حسین", "hossein"}};
static const struct name fa_f[] = {{"مریم", "maryam"},
                                   {"زهرا", "zahra"},
                                   {"سارا", "sara"},
                                   {"نگار", "negar"},
                                   {"فاطمه", "fatemeh"}};
static const struct name fa_l[] = {{"محمدی", "mohammadi"},
                                   {"حسینی", "hosseini"},
                                   {"رضایی", "rezaei"},
                                   {"احمدی", "ahmadi"},
                                   {"کریمی", "karimi"}};

struct culture {
    double weight;
    const struct name *m, *f, *lm, *lf;
    size_t nm, nf, nl; /* lm and lf have nl entries each */
    int where[4];      /* countries, picked uniformly */
    int nwhere;
};

#define CULTURE(w, m, f, lm, lf, ...)                                          \
    {                                                                          \
        w, m, f, lm, lf, N(m), N(f), N(lm), {__VA_ARGS__},                     \
            (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int))                  \
    }

static const struct culture cultures[] = {
    CULTURE(30, en_m, en_f, en_l, en_l, GB, GB, GB, IE),
    CULTURE(14, de_m, de_f, de_l, de_l, DE, DE, AT),
    CULTURE(10, fr_m, fr_f, fr_l, fr_l, FR),
    CULTURE(10, es_m, es_f, es_l, es_l, ES),
    CULTURE(12, pl_m, pl_f, pl_lm, pl_lf, PL, PL, GB, DE),
    CULTURE(8, ru_m, ru_f, ru_lm, ru_lf, LV, DE, GB),
    CULTURE(9, ua_m, ua_f, ua_l, ua_l, UA, UA, PL, DE),
    CULTURE(7, fa_m, fa_f, fa_l, fa_l, DE, SE, GB),
};

static const char *const mail_domains[] = {"example.com", "example.org",
                                           "example.net"};

enum category {
    BOOKS,
    MUSIC,
    TOYS,
    GARDEN,
    KITCHEN,
    SPORT,
    TRAVEL,
    WOMENSWEAR,
    MENSWEAR,
    NCAT
};

struct catinfo {
    const char *name;
    double share; /* of the catalogue */
    int min_cents, max_cents;
    const char *titles[8]; /* base titles, NULL-terminated */
    const char *variants[6];
};

static const struct catinfo cats[NCAT] = {
    {"books",
     18,
     800,
     3500,
     {"Salt, Fat, Acid, Heat", "Pan Tadeusz", "Мастер и Маргарита",
      "Les Misérables", "The \"Little\" Prince", "Cien años de soledad",
      "Кобзар", "دیوان حافظ"},
     {"paperback", "hardcover", "e-book", "large print", NULL}},
    {"music",
     10,
     1000,
     4000,
     {"Kind of Blue", "Chopin – Nocturnes", "Abbey Road", "Buena Vista",
      "Kraftwerk: Autobahn", "Vivaldi, Four Seasons", NULL},
     {"vinyl", "CD", "deluxe edition", NULL}},
    {"toys",
     10,
     1000,
     8000,
     {"Wooden Train Set", "Puzzle 1000 pcs", "Plush Bear", "Building Bricks",
      "Kite", "Doll's House", NULL},
     {"small", "large", "deluxe", NULL}},
    {"garden",
     8,
     500,
     12000,
     {"Rose Bush", "Garden Hose 25 m", "Pruning Shears", "Bird Feeder",
      "Raised Bed", "Gartenzwerg", NULL},
     {"green", "terracotta", "steel", NULL}},
    {"kitchen",
     12,
     800,
     15000,
     {"Chef's Knife", "Cast Iron Pan 28 cm", "Espresso Cups, set of 4",
      "Crème Brûlée Set", "Bread Tin", "Salad Bowl", NULL},
     {"black", "white", "oak", "copper", NULL}},
    {"sport",
     10,
     1000,
     14000,
     {"Yoga Mat", "Running Shoes", "Football", "Tennis Racket",
      "Cycling Gloves", "Jump Rope", NULL},
     {"size S", "size M", "size L", "blue", "red", NULL}},
    {"travel",
     6,
     5000,
     90000,
     {"Weekend in Kraków", "City Trip Lisboa", "Cabin Suitcase", "Rail Pass",
      "Fjord Cruise", "Ski Week Zell am See", NULL},
     {"for one", "for two", "flexible", NULL}},
    {"womenswear",
     14,
     2000,
     20000,
     {"Linen Dress", "Wool Cardigan", "Silk Blouse", "Pleated Skirt",
      "Trench Coat", "Ballet Flats", NULL},
     {"navy", "black", "crème", "rosé", "size 38", NULL}},
    {"menswear",
     12,
     2000,
     20000,
     {"Oxford Shirt", "Chino Trousers", "Wool Overcoat", "Leather Belt",
      "Polo Shirt", "Brogues", NULL},
     {"navy", "grey", "olive", "size L", "size XL", NULL}},
};

/* ------------------------------------------------------------------------
 * Entities
 */
struct customer {
    const char *first, *last, *first_a, *last_a;
    const char *domain;
    char gender;
    int by, bm, bd; /* birth date */
    int age;        /* at the start of the order period */
    const struct country *country;
    const char *city;
    int has_phone, national_phone;
    long phone; /* 8 digits after +4477 */
    long income;
    int children;
    int email_yes, sms_yes;
    int64_t registered;
};

struct item {
    int cat;
    short title, variant;
    long cents;
};

/* Everything the generator keeps while running. */
struct gen {
    const struct ecrm_sample_opts *o;
    int64_t reg_start, reg_span; /* customers register in this period */
    int start_year;
    struct item *items;
    long *by_cat[NCAT]; /* item indices, most popular first */
    double *cum[NCAT];  /* cumulative Zipf weights of by_cat */
    long ncat[NCAT];
};

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

/* Civil date of day number Z since 1970-01-01 (Howard Hinnant). */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Customer I, a pure function of (seed, I). */
static void make_customer(const struct gen *g, long i, struct customer *c)
{
    const struct ecrm_sample_opts *o = g->o;
    struct rng r;
    double w[N(cultures)];

    rng_init(&r, o->seed, 1, (uint64_t)i);
    for (size_t k = 0; k < N(cultures); k++)
        w[k] = cultures[k].weight;
    const struct culture *cu = &cultures[rng_pick(&r, w, N(cultures))];
    c->gender = rng_below(&r, 2) ? 'f' : 'm';
    size_t ln = rng_below(&r, cu->nl);
    if (c->gender == 'f') {
        const struct name *f = &cu->f[rng_below(&r, cu->nf)];
        c->first = f->text;
        c->first_a = f->ascii;
        c->last = cu->lf[ln].text;
        c->last_a = cu->lf[ln].ascii;
    } else {
        const struct name *m = &cu->m[rng_below(&r, cu->nm)];
        c->first = m->text;
        c->first_a = m->ascii;
        c->last = cu->lm[ln].text;
        c->last_a = cu->lm[ln].ascii;
    }
    c->domain = mail_domains[rng_below(&r, N(mail_domains))];
    c->country = &countries[cu->where[rng_below(&r, (uint64_t)cu->nwhere)]];
    c->city = c->country->cities[rng_below(&r, (uint64_t)c->country->ncities)];
    c->by = 1950 + (int)rng_below(&r, 57);
    c->bm = 1 + (int)rng_below(&r, 12);
    c->bd = 1 + (int)rng_below(&r, (uint64_t)days_in_month(c->by, c->bm));
    c->age = g->start_year - c->by;
    if (c->age < 0)
        c->age = 0;
    /* unique per customer: I * M mod 10^8 is a bijection (gcd(M, 10) = 1) */
    c->phone = (long)(((uint64_t)i * 37139213u + 90012345u) % 100000000u);
    c->has_phone = rng_unit(&r) < 0.85;
    c->national_phone = c->country == &countries[GB] && rng_below(&r, 2);
    double pk = c->age < 25   ? 0.1
                : c->age < 35 ? 0.45
                : c->age < 55 ? 0.65
                              : 0.35;
    c->children = rng_unit(&r) < pk ? 1 + (int)rng_below(&r, 3) : 0;
    double base = 18000 + (c->age > 18 ? (c->age - 18) : 0) * 900.0;
    if (base > 60000)
        base = 60000;
    double f = 0.5 + rng_unit(&r) + rng_unit(&r) * 0.5; /* 0.5 .. 2.0 */
    c->income = (long)(base * f / 100) * 100;
    c->email_yes = rng_unit(&r) < o->email_consent_rate;
    c->sms_yes = rng_unit(&r) < o->sms_consent_rate;
    /* ids follow registration order; customer 0 is the oldest, so an order
     * always has someone to come from */
    int64_t lo = g->reg_start + (int64_t)i * g->reg_span / o->customers;
    int64_t hi = g->reg_start + ((int64_t)i + 1) * g->reg_span / o->customers;
    c->registered = i == 0 || hi <= lo
                        ? lo
                        : lo + (int64_t)rng_below(&r, (uint64_t)(hi - lo));
}

/* How likely customer C picks each category for an order line. */
static void category_weights(const struct gen *g, const struct customer *c,
                             double *w)
{
    static const double base[NCAT] = {1.0, 0.6, 0.5, 0.5, 0.8,
                                      0.7, 0.4, 0.9, 0.7};
    int f = c->gender == 'f';
    for (int k = 0; k < NCAT; k++)
        w[k] = base[k];
    w[WOMENSWEAR] *= f ? 6 : 0.2;
    w[MENSWEAR] *= f ? 0.2 : 6;
    w[TOYS] *= c->children > 0 ? 5 : 0.2;
    w[KITCHEN] *= c->children > 0 ? 1.3 : 1;
    w[TRAVEL] *= c->age < 30 ? 4 : c->age > 55 ? 0.5 : 1;
    w[MUSIC] *= c->age < 35 ? 2 : 1;
    w[GARDEN] *= c->age > 50 ? 3 : c->age < 30 ? 0.3 : 1;
    w[BOOKS] *= c->age > 40 ? 1.5 : 1;
    w[SPORT] *= (c->age < 40 ? 1.8 : 1) * (f ? 1 : 1.3);
    for (int k = 0; k < NCAT; k++)
        if (g->ncat[k] == 0)
            w[k] = 0;
}

/* ------------------------------------------------------------------------
 * Output
 */

/* One CSV row being built; rows are far below its size. */
struct row {
    char b[2048];
    size_t n;
};

static void put(struct row *r, const char *s)
{
    size_t l = strlen(s);
    if (r->n + l < sizeof(r->b)) {
        memcpy(r->b + r->n, s, l);
        r->n += l;
    }
}

static void putch(struct row *r, char c)
{
    if (r->n + 1 < sizeof(r->b))
        r->b[r->n++] = c;
}

/* S as an RFC 4180 field: quoted when it has a comma, quote or newline. */
static void put_csv(struct row *r, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        put(r, s);
        return;
    }
    putch(r, '"');
    for (; *s; s++) {
        if (*s == '"')
            putch(r, '"');
        putch(r, *s);
    }
    putch(r, '"');
}

static void put_long(struct row *r, long v)
{
    char tmp[24];
    int n = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        putch(r, '-');
    while (n > 0)
        putch(r, tmp[--n]);
}

/* V zero-padded to WIDTH digits (V >= 0). */
static void put_pad(struct row *r, long v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    while (n > 0)
        putch(r, tmp[--n]);
}

static void put_date(struct row *r, int y, int m, int d)
{
    put_pad(r, y, 4);
    putch(r, '-');
    put_pad(r, m, 2);
    putch(r, '-');
    put_pad(r, d, 2);
}

/* T as YYYY-MM-DDTHH:MM:SSZ. */
static void put_time(struct row *r, int64_t t)
{
    int64_t days = floor_div(t, 86400), s = t - days * 86400;
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    put_date(r, y, m, d);
    putch(r, 'T');
    put_pad(r, (long)(s / 3600), 2);
    putch(r, ':');
    put_pad(r, (long)(s / 60 % 60), 2);
    putch(r, ':');
    put_pad(r, (long)(s % 60), 2);
    putch(r, 'Z');
}

static void put_cents(struct row *r, long cents)
{
    put_long(r, cents / 100);
    putch(r, '.');
    put_pad(r, cents % 100, 2);
}

static void put_id(struct row *r, char prefix, long id, int width)
{
    putch(r, prefix);
    put_pad(r, id, width);
}

static void end_row(struct row *r, FILE *f)
{
    putch(r, '\n');
    fwrite(r->b, 1, r->n, f);
    r->n = 0;
}

/* An output file DIR/NAME written under a temporary name and renamed into
 * place, exactly 0600: customer data. */
static int out_open(struct ecrm_atomic_file *w, const char *dir,
                    const char *name, char *err, size_t errlen)
{
    char *path = ecrm_path_join(dir, name);
    int rc = ecrm_atomic_open(w, path, 0600, err, errlen);
    free(path);
    return rc;
}

/* ------------------------------------------------------------------------
 * customers.csv
 */
static void write_customer(const struct gen *g, long i, struct row *r, FILE *f)
{
    struct customer c;
    make_customer(g, i, &c);
    put_id(r, 'C', i + 1, 6);
    putch(r, ',');
    put(r, c.first_a);
    putch(r, '.');
    put(r, c.last_a);
    putch(r, '.');
    put_long(r, i + 1);
    putch(r, '@');
    put(r, c.domain);
    putch(r, ',');
    if (c.has_phone && c.national_phone) {
        put(r, "077"); /* "07700 900123": the UK national format */
        put_pad(r, c.phone / 1000000, 2);
        putch(r, ' ');
        put_pad(r, c.phone % 1000000, 6);
    } else if (c.has_phone) {
        put(r, "+4477");
        put_pad(r, c.phone, 8);
    }
    putch(r, ',');
    put_csv(r, c.first);
    putch(r, ',');
    put_csv(r, c.last);
    putch(r, ',');
    putch(r, c.gender);
    putch(r, ',');
    put_date(r, c.by, c.bm, c.bd);
    putch(r, ',');
    put_csv(r, c.city);
    putch(r, ',');
    put(r, c.country->code);
    putch(r, ',');
    put(r, c.country->tz);
    putch(r, ',');
    put_long(r, c.income);
    putch(r, ',');
    put_long(r, c.children);
    putch(r, ',');
    put(r, c.email_yes ? "yes" : "no");
    putch(r, ',');
    put(r, c.sms_yes ? "yes" : "no");
    putch(r, ',');
    put_time(r, c.registered);
    end_row(r, f);
}

/* ------------------------------------------------------------------------
 * Items
 */
static int make_items(struct gen *g, char *err, size_t errlen)
{
    const struct ecrm_sample_opts *o = g->o;
    double share[NCAT];
    long fill[NCAT] = {0};

    g->items = calloc((size_t)o->items, sizeof(*g->items));
    if (!g->items)
        goto oom;
    for (int k = 0; k < NCAT; k++)
        share[k] = cats[k].share;
    for (long j = 0; j < o->items; j++) {
        struct rng r;
        struct item *it = &g->items[j];
        rng_init(&r, o->seed, 2, (uint64_t)j);
        it->cat = (int)rng_pick(&r, share, NCAT);
        const struct catinfo *ci = &cats[it->cat];
        int nt = 0, nv = 0;
        while (nt < 8 && ci->titles[nt])
            nt++;
        while (nv < 6 && ci->variants[nv])
            nv++;
        it->title = (short)rng_below(&r, (uint64_t)nt);
        it->variant = (short)rng_below(&r, (uint64_t)nv);
        it->cents =
            ci->min_cents +
            (long)rng_below(&r, (uint64_t)(ci->max_cents - ci->min_cents));
        it->cents = it->cents / 10 * 10 + 9; /* shop prices end in 9 */
        g->ncat[it->cat]++;
    }
    for (int k = 0; k < NCAT; k++) {
        g->by_cat[k] = malloc(((size_t)g->ncat[k] + 1) * sizeof(long));
        g->cum[k] = malloc(((size_t)g->ncat[k] + 1) * sizeof(double));
        if (!g->by_cat[k] || !g->cum[k])
            goto oom;
    }
    /* popularity rank within a category: the order of the sku numbers
     * would be too regular, so use the order of a hash of the index */
    for (long j = 0; j < o->items; j++) {
        int k = g->items[j].cat;
        g->by_cat[k][fill[k]++] = j;
    }
    for (int k = 0; k < NCAT; k++) {
        struct rng r;
        rng_init(&r, o->seed, 3, (uint64_t)k);
        for (long a = g->ncat[k] - 1; a > 0; a--) {
            long b = (long)rng_below(&r, (uint64_t)a + 1);
            long t = g->by_cat[k][a];
            g->by_cat[k][a] = g->by_cat[k][b];
            g->by_cat[k][b] = t;
        }
        double s = 0;
        for (long a = 0; a < g->ncat[k]; a++) {
            /* Zipf with exponent 1 */
            s += 1.0 / (double)(a + 1);
            g->cum[k][a] = s;
        }
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory for %ld items", o->items);
    return -1;
}

/* An item of category K, by Zipf popularity. */
static long pick_item(const struct gen *g, struct rng *r, int k)
{
    long n = g->ncat[k], lo = 0, hi = n - 1;
    double x = rng_unit(r) * g->cum[k][n - 1];
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (g->cum[k][mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return g->by_cat[k][lo];
}

/* The time of the K-th of N records spread evenly over the period, in
 * order (*PREV: the previous one's), so no sort is needed. */
static int64_t spread_time(const struct ecrm_sample_opts *o, struct rng *r,
                           long k, long n, int64_t *prev)
{
    int64_t span = o->end - o->start;
    int64_t t = o->start +
                (int64_t)(((double)k + rng_unit(r)) * (double)span / (double)n);
    if (t < *prev)
        t = *prev;
    if (t > o->end)
        t = o->end;
    *prev = t;
    return t;
}

/* A customer registered by T; older customers are more active. */
static long pick_customer(const struct gen *g, struct rng *r, int64_t t)
{
    const struct ecrm_sample_opts *o = g->o;
    int64_t eligible = (t - g->reg_start) * (int64_t)o->customers / g->reg_span;
    if (eligible < 1)
        eligible = 1;
    if (eligible > o->customers)
        eligible = o->customers;
    if (rng_unit(r) < 0.6)
        return (long)rng_below(r, (uint64_t)eligible);
    double u = rng_unit(r);
    return (long)((double)eligible * u * u);
}

/* ------------------------------------------------------------------------
 * orders.csv
 */

/* One return line waiting for its time. */
struct pending {
    int64_t time;
    uint64_t seq; /* creation order: ties keep lines of a return together */
    long order, line, customer, item, quantity;
};

struct heap {
    struct pending *v;
    size_t n, cap;
};

static int pending_before(const struct pending *a, const struct pending *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static int heap_push(struct heap *h, const struct pending *p)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        struct pending *v = realloc(h->v, cap * sizeof(*v));
        if (!v)
            return -1;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && pending_before(p, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = *p;
    return 0;
}

static void heap_pop(struct heap *h, struct pending *out)
{
    *out = h->v[0];
    struct pending last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && pending_before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!pending_before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = last;
}

static void write_line(const struct gen *g, struct row *r, FILE *f,
                       int is_return, long order, long line, long customer,
                       long item, long qty, int64_t t)
{
    const struct item *it = &g->items[item];
    const struct catinfo *ci = &cats[it->cat];
    char title[256];
    if (is_return)
        putch(r, 'R');
    put_long(r, 100000 + order + 1);
    putch(r, ',');
    put_long(r, line);
    putch(r, ',');
    put_id(r, 'C', customer + 1, 6);
    putch(r, ',');
    put_id(r, 'S', item + 1, 6);
    putch(r, ',');
    snprintf(title, sizeof(title), "%s (%s)", ci->titles[it->title],
             ci->variants[it->variant]);
    put_csv(r, title);
    putch(r, ',');
    put(r, ci->name);
    putch(r, ',');
    put_long(r, qty);
    putch(r, ',');
    put_cents(r, it->cents);
    put(r, ",EUR,");
    put_time(r, t);
    end_row(r, f);
}

static void flush_returns(const struct gen *g, struct heap *h, int64_t until,
                          struct row *r, FILE *f, struct ecrm_sample_stats *st)
{
    struct pending p;
    while (h->n > 0 && h->v[0].time <= until) {
        heap_pop(h, &p);
        write_line(g, r, f, 1, p.order, p.line, p.customer, p.item, p.quantity,
                   p.time);
        st->return_lines++;
        if (p.line == 1)
            st->returns++;
    }
}

static int write_orders(const struct gen *g, FILE *f,
                        struct ecrm_sample_stats *st, char *err, size_t errlen)
{
    static const double nlines_w[5] = {50, 25, 12, 8, 5};
    const struct ecrm_sample_opts *o = g->o;
    struct heap h = {0};
    struct row r = {.n = 0};
    uint64_t seq = 0;
    int64_t prev = o->start;
    int rc = -1;

    fputs("order_id,line,customer_id,sku,title,category,quantity,unit_price,"
          "currency,ordered_at\n",
          f);
    for (long k = 0; k < o->orders; k++) {
        struct rng rg;
        struct customer c;
        double w[NCAT];
        long items[5], qty[5];

        rng_init(&rg, o->seed, 4, (uint64_t)k);
        int64_t t = spread_time(o, &rg, k, o->orders, &prev);
        flush_returns(g, &h, t, &r, f, st);

        long ci = pick_customer(g, &rg, t);
        make_customer(g, ci, &c);
        category_weights(g, &c, w);

        int nl = 1 + (int)rng_pick(&rg, nlines_w, 5);
        for (int l = 0; l < nl; l++) {
            int cat = (int)rng_pick(&rg, w, NCAT);
            long it = pick_item(g, &rg, cat);
            for (int tries = 0; tries < 4; tries++) {
                int dup = 0;
                for (int q = 0; q < l; q++)
                    dup |= items[q] == it;
                if (!dup)
                    break;
                it = pick_item(g, &rg, cat);
            }
            items[l] = it;
            double u = rng_unit(&rg);
            qty[l] = cat == TRAVEL ? 1 : u < 0.8 ? 1 : u < 0.95 ? 2 : 3;
            write_line(g, &r, f, 0, k, l + 1, ci, it, qty[l], t);
            st->order_lines++;
        }
        st->orders++;

        /* about 3% come back, some of their lines, 1-30 days later */
        if (rng_unit(&rg) < 0.03) {
            int64_t rt = t + (int64_t)(1 + rng_below(&rg, 30)) * 86400 +
                         (int64_t)rng_below(&rg, 86400);
            int keep[5], any = 0;
            for (int l = 0; l < nl; l++) {
                keep[l] = nl == 1 || rng_below(&rg, 2);
                any |= keep[l];
            }
            if (!any)
                keep[rng_below(&rg, (uint64_t)nl)] = 1;
            long rl = 0;
            for (int l = 0; rt <= o->end && l < nl; l++) {
                if (!keep[l])
                    continue;
                struct pending p = {rt, seq++, k, ++rl, ci, items[l], -qty[l]};
                if (heap_push(&h, &p)) {
                    snprintf(err, errlen, "out of memory");
                    goto out;
                }
            }
        }
    }
    flush_returns(g, &h, INT64_MAX, &r, f, st);
    rc = 0;
out:
    free(h.v);
    return rc;
}

/* ------------------------------------------------------------------------
 * events.csv: what customers do besides ordering, for the `events` source
 * (page views of products, categories, the home page and searches, cart
 * additions, newsletter clicks, service tickets, contest entries).
 * Product and category pages follow the customer's category preferences,
 * so browsing carries the same signal as buying.
 */
enum ev_kind {
    EV_PRODUCT,
    EV_CATEGORY,
    EV_HOME,
    EV_SEARCH,
    EV_CART,
    EV_NEWSLETTER,
    EV_TICKET,
    EV_CONTEST,
    NEV
};

static const double ev_weights[NEV] = {50, 15, 6, 6, 8, 9, 3, 3};

/* One event of customer CI at T into R. */
static void write_event(const struct gen *g, struct rng *rg, long ci, int64_t t,
                        struct row *r, FILE *f)
{
    struct customer c;
    double w[NCAT];
    int y, m, d;
    long it = -1;
    enum ev_kind kind = (enum ev_kind)rng_pick(rg, ev_weights, NEV);
    int cat = 0;
    if (kind == EV_PRODUCT || kind == EV_CATEGORY || kind == EV_SEARCH ||
        kind == EV_CART) {
        make_customer(g, ci, &c);
        category_weights(g, &c, w);
        cat = (int)rng_pick(rg, w, NCAT);
        if (kind == EV_PRODUCT || kind == EV_CART)
            it = pick_item(g, rg, cat);
    }
    put_id(r, 'C', ci + 1, 6);
    putch(r, ',');
    switch (kind) {
    case EV_PRODUCT:
        put(r, "page_view,/product/");
        put_id(r, 'S', it + 1, 6);
        break;
    case EV_CATEGORY:
        put(r, "page_view,/category/");
        put(r, cats[cat].name);
        break;
    case EV_HOME:
        put(r, "page_view,/");
        break;
    case EV_SEARCH:
        put(r, "page_view,/search?q=");
        put(r, cats[cat].name);
        break;
    case EV_CART:
        put(r, "add_to_cart,/cart/add");
        break;
    case EV_NEWSLETTER: /* one issue a month */
        civil_from_days(floor_div(t, 86400), &y, &m, &d);
        put(r, "newsletter_click,/newsletter/");
        put_pad(r, y, 4);
        putch(r, '-');
        put_pad(r, m, 2);
        break;
    case EV_TICKET:
        put(r, "ticket_opened,");
        break;
    default: /* one contest a quarter */
        civil_from_days(floor_div(t, 86400), &y, &m, &d);
        put(r, "contest_entry,/contest/");
        put_pad(r, y, 4);
        put(r, "-q");
        put_long(r, (m - 1) / 3 + 1);
        break;
    }
    putch(r, ',');
    if (it >= 0)
        put_id(r, 'S', it + 1, 6);
    putch(r, ',');
    put_time(r, t);
    end_row(r, f);
}

static void write_events(const struct gen *g, FILE *f,
                         struct ecrm_sample_stats *st)
{
    const struct ecrm_sample_opts *o = g->o;
    struct row r = {.n = 0};
    int64_t prev = o->start;
    fputs("customer_id,type,url,sku,occurred_at\n", f);
    for (long k = 0; k < o->events; k++) {
        struct rng rg;
        rng_init(&rg, o->seed, 5, (uint64_t)k);
        int64_t t = spread_time(o, &rg, k, o->events, &prev);
        write_event(g, &rg, pick_customer(g, &rg, t), t, &r, f);
        st->events++;
    }
}

/* ------------------------------------------------------------------------
 * Public functions
 */
void ecrm_sample_defaults(struct ecrm_sample_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 42;
    o->customers = 200;
    o->items = 300;
    o->orders = 1000;
    o->events = 0;
    o->start = 1735689600; /* 2025-01-01T00:00:00Z */
    o->end = 1767225599;   /* 2025-12-31T23:59:59Z */
    o->email_consent_rate = 0.7;
    o->sms_consent_rate = 0.4;
}

static int check_opts(const struct ecrm_sample_opts *o, char *err,
                      size_t errlen)
{
    /* limits keep ids and phone numbers unique and unit arithmetic exact */
    if (o->customers < 1 || o->customers > 99999999)
        snprintf(err, errlen, "customers must be between 1 and 99999999");
    else if (o->items < 1 || o->items > 9999999)
        snprintf(err, errlen, "items must be between 1 and 9999999");
    else if (o->orders < 0 || o->orders > 999999999)
        snprintf(err, errlen, "orders must be between 0 and 999999999");
    else if (o->events < 0 || o->events > 999999999)
        snprintf(err, errlen, "events must be between 0 and 999999999");
    else if (o->start >= o->end || o->start < 0 ||
             o->end - o->start > 100LL * 366 * 86400)
        snprintf(err, errlen,
                 "start must be before end, after 1970, at most 100 years "
                 "apart");
    else if (!(o->email_consent_rate >= 0 && o->email_consent_rate <= 1) ||
             !(o->sms_consent_rate >= 0 && o->sms_consent_rate <= 1))
        snprintf(err, errlen, "consent rates must be between 0 and 1");
    else
        return 0;
    return -1;
}

int ecrm_sample_generate_ex(const char *dir, const struct ecrm_sample_opts *o,
                            struct ecrm_sample_stats *stats, char *err,
                            size_t errlen)
{
    struct gen g = {.o = o};
    struct ecrm_atomic_file cw = {0}, ow = {0}, ew = {0};
    struct ecrm_sample_stats st = {0};
    struct row r = {.n = 0};
    int rc = ECRM_SAMPLE_EIO, ok = 0;

    if (!dir || !*dir) {
        snprintf(err, errlen, "no output directory");
        rc = ECRM_SAMPLE_EINVAL;
        goto out;
    }
    if (check_opts(o, err, errlen)) {
        rc = ECRM_SAMPLE_EINVAL;
        goto out;
    }
    int y, m, d;
    civil_from_days(floor_div(o->start, 86400), &y, &m, &d);
    g.start_year = y;
    g.reg_start = o->start - 730 * 86400; /* two years before the orders */
    g.reg_span = o->end - g.reg_start;
    if (ecrm_mkdir_p(dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    if (make_items(&g, err, errlen))
        goto out;

    if (out_open(&cw, dir, "customers.csv", err, errlen))
        goto out;
    fputs("customer_id,email,phone,first_name,last_name,gender,birth_date,"
          "city,country,time_zone,income,children,email_marketing,"
          "sms_marketing,registered_at\n",
          cw.f);
    for (long i = 0; i < o->customers; i++)
        write_customer(&g, i, &r, cw.f);
    st.customers = o->customers;
    if (ecrm_atomic_close(&cw, 1, err, errlen))
        goto out;

    if (out_open(&ow, dir, "orders.csv", err, errlen))
        goto out;
    if (write_orders(&g, ow.f, &st, err, errlen))
        goto out;
    if (ecrm_atomic_close(&ow, 1, err, errlen))
        goto out;

    if (out_open(&ew, dir, "events.csv", err, errlen))
        goto out;
    write_events(&g, ew.f, &st);
    ok = 1;
    if (ecrm_atomic_close(&ew, 1, err, errlen))
        goto out;
    if (stats)
        *stats = st;
    rc = ECRM_SAMPLE_OK;
out:
    if (!ok) {
        ecrm_atomic_close(&cw, 0, err, errlen);
        ecrm_atomic_close(&ow, 0, err, errlen);
        ecrm_atomic_close(&ew, 0, err, errlen);
    }
    free(g.items);
    for (int k = 0; k < NCAT; k++) {
        free(g.by_cat[k]);
        free(g.cum[k]);
    }
    return rc;
}

int ecrm_sample_generate(const char *dir, const struct ecrm_sample_opts *o,
                         char *err, size_t errlen)
{
    return ecrm_sample_generate_ex(dir, o, NULL, err, errlen);
}
