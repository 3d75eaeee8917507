"""Sentences to speak and syllables to vocalise, per language.

The spoken sentences are short everyday phrases written for this project (no licence
restrictions). Languages without their own list borrow a related one
(:func:`sentences_for`); non-Latin scripts have their own lists so that espeak-ng reads
them natively.
"""

from __future__ import annotations

SENTENCES: dict[str, list[str]] = {
    "en": [
        "The north wind and the sun were arguing about which of them was stronger.",
        "Please call me back when you have a minute to talk.",
        "We walked along the river until the lights of the town came on.",
        "My favourite song is playing on the radio again.",
        "The train to the city leaves at half past seven every morning.",
        "Could you sing that line once more, a little slower?",
        "She opened the window and the room filled with fresh air.",
        "I would like a cup of tea with a slice of lemon.",
        "The children laughed and ran across the green field.",
        "Tomorrow we will record the new song in the small studio.",
        "He played the guitar while everyone sang along.",
        "It has been raining since early this afternoon.",
    ],
    "de": [
        "Der Nordwind und die Sonne stritten sich, wer von ihnen der Stärkere wäre.",
        "Bitte ruf mich zurück, wenn du kurz Zeit hast.",
        "Wir gingen am Fluss entlang, bis die Lichter der Stadt angingen.",
        "Mein Lieblingslied läuft schon wieder im Radio.",
        "Der Zug in die Stadt fährt jeden Morgen um halb acht.",
        "Kannst du diese Zeile noch einmal etwas langsamer singen?",
        "Sie öffnete das Fenster und frische Luft kam herein.",
        "Ich hätte gern eine Tasse Tee mit einer Scheibe Zitrone.",
        "Die Kinder lachten und liefen über die grüne Wiese.",
        "Morgen nehmen wir das neue Lied im kleinen Studio auf.",
    ],
    "fr": [
        "La bise et le soleil se disputaient, chacun assurant qu'il était le plus fort.",
        "Rappelle-moi quand tu auras une minute pour parler.",
        "Nous avons marché le long de la rivière jusqu'à la nuit.",
        "Ma chanson préférée passe encore à la radio.",
        "Le train pour la ville part tous les matins à sept heures et demie.",
        "Peux-tu chanter cette phrase encore une fois, un peu plus lentement?",
        "Elle ouvrit la fenêtre et la pièce se remplit d'air frais.",
        "Je voudrais une tasse de thé avec une tranche de citron.",
        "Les enfants riaient et couraient à travers le pré.",
        "Demain nous enregistrerons la nouvelle chanson au petit studio.",
    ],
    "es": [
        "El viento del norte y el sol discutían sobre cuál de ellos era el más fuerte.",
        "Llámame cuando tengas un minuto para hablar.",
        "Caminamos junto al río hasta que se encendieron las luces del pueblo.",
        "Mi canción favorita está sonando otra vez en la radio.",
        "El tren a la ciudad sale cada mañana a las siete y media.",
        "¿Puedes cantar esa frase otra vez, un poco más despacio?",
        "Ella abrió la ventana y la habitación se llenó de aire fresco.",
        "Quisiera una taza de té con una rodaja de limón.",
        "Los niños reían y corrían por el campo verde.",
        "Mañana grabaremos la canción nueva en el estudio pequeño.",
    ],
    "it": [
        "Il vento di tramontana e il sole si contendevano chi fosse il più forte.",
        "Richiamami quando hai un minuto per parlare.",
        "Abbiamo camminato lungo il fiume fino a sera.",
        "La mia canzone preferita passa di nuovo alla radio.",
        "Il treno per la città parte ogni mattina alle sette e mezza.",
        "Puoi cantare quella frase ancora una volta, un po' più piano?",
        "Lei aprì la finestra e la stanza si riempì di aria fresca.",
        "Vorrei una tazza di tè con una fetta di limone.",
        "I bambini ridevano e correvano nel prato verde.",
        "Domani registreremo la nuova canzone nel piccolo studio.",
    ],
    "pt": [
        "O vento norte e o sol discutiam qual dos dois era o mais forte.",
        "Liga-me quando tiveres um minuto para falar.",
        "Caminhámos ao longo do rio até as luzes da cidade se acenderem.",
        "A minha canção favorita está a tocar outra vez na rádio.",
        "O comboio para a cidade parte todas as manhãs às sete e meia.",
        "Podes cantar essa frase mais uma vez, um pouco mais devagar?",
        "Ela abriu a janela e o quarto encheu-se de ar fresco.",
        "Queria uma chávena de chá com uma fatia de limão.",
    ],
    "nl": [
        "De noordenwind en de zon hadden een discussie over wie de sterkste was.",
        "Bel me terug als je even tijd hebt.",
        "We liepen langs de rivier tot de lichten van de stad aangingen.",
        "Mijn lievelingslied is weer op de radio.",
        "De trein naar de stad vertrekt elke ochtend om half acht.",
        "Kun je die regel nog een keer zingen, iets langzamer?",
        "Zij opende het raam en de kamer vulde zich met frisse lucht.",
        "Ik wil graag een kopje thee met een schijfje citroen.",
    ],
    "sv": [
        "Nordanvinden och solen tvistade om vem av dem som var starkast.",
        "Ring mig när du har en minut över.",
        "Vi gick längs floden tills ljusen tändes i staden.",
        "Min favoritlåt spelas på radion igen.",
        "Tåget till staden går varje morgon halv åtta.",
        "Kan du sjunga den raden en gång till, lite långsammare?",
    ],
    "pl": [
        "Wiatr północny i słońce kłóciły się, które z nich jest silniejsze.",
        "Oddzwoń do mnie, kiedy będziesz miał chwilę.",
        "Szliśmy wzdłuż rzeki, aż zapaliły się światła miasta.",
        "Moja ulubiona piosenka znowu leci w radiu.",
        "Pociąg do miasta odjeżdża codziennie o wpół do ósmej.",
        "Czy możesz zaśpiewać tę linijkę jeszcze raz, trochę wolniej?",
    ],
    "cs": [
        "Severák a slunce se přeli, kdo z nich je silnější.",
        "Zavolej mi, až budeš mít chvilku čas.",
        "Šli jsme podél řeky, dokud se ve městě nerozsvítila světla.",
        "Moje oblíbená písnička hraje zase v rádiu.",
        "Vlak do města jezdí každé ráno v půl osmé.",
        "Můžeš ten verš zazpívat ještě jednou, trochu pomaleji?",
    ],
    "hr": [
        "Sjeverni vjetar i sunce prepirali su se tko je od njih jači.",
        "Nazovi me kad budeš imao minutu.",
        "Šetali smo uz rijeku dok se nisu upalila svjetla grada.",
        "Moja omiljena pjesma opet svira na radiju.",
        "Vlak za grad polazi svako jutro u pola osam.",
    ],
    "hu": [
        "Az északi szél és a nap vitatkoztak, hogy melyikük az erősebb.",
        "Hívj vissza, ha lesz egy perced.",
        "A folyó mentén sétáltunk, amíg a város fényei ki nem gyúltak.",
        "A kedvenc dalom megint szól a rádióban.",
        "A vonat minden reggel fél nyolckor indul a városba.",
    ],
    "ro": [
        "Vântul de nord și soarele se certau care dintre ei este mai puternic.",
        "Sună-mă înapoi când ai un minut liber.",
        "Am mers de-a lungul râului până s-au aprins luminile orașului.",
        "Cântecul meu preferat se aude din nou la radio.",
        "Trenul spre oraș pleacă în fiecare dimineață la șapte și jumătate.",
    ],
    "et": [
        "Põhjatuul ja päike vaidlesid, kumb neist on tugevam.",
        "Helista mulle tagasi, kui sul on hetk aega.",
        "Me kõndisime mööda jõge, kuni linna tuled süttisid.",
        "Minu lemmiklaul mängib jälle raadios.",
    ],
    "lt": [
        "Šiaurės vėjas ir saulė ginčijosi, kuris iš jų stipresnis.",
        "Paskambink man, kai turėsi minutę laiko.",
        "Ėjome palei upę, kol užsidegė miesto šviesos.",
        "Mano mėgstamiausia daina vėl skamba per radiją.",
    ],
    "is": [
        "Norðanvindurinn og sólin deildu um hvort þeirra væri sterkara.",
        "Hringdu í mig þegar þú hefur smá tíma.",
        "Við gengum meðfram ánni þar til ljósin kviknuðu í bænum.",
        "Uppáhaldslagið mitt er aftur í útvarpinu.",
    ],
    "id": [
        "Angin utara dan matahari berdebat tentang siapa yang lebih kuat.",
        "Telepon saya kembali kalau kamu punya waktu sebentar.",
        "Kami berjalan di sepanjang sungai sampai lampu kota menyala.",
        "Lagu favorit saya diputar lagi di radio.",
        "Kereta ke kota berangkat setiap pagi jam setengah delapan.",
    ],
    "tr": [
        "Kuzey rüzgârı ile güneş hangisinin daha güçlü olduğunu tartışıyorlardı.",
        "Bir dakikan olduğunda beni geri ara.",
        "Şehrin ışıkları yanana kadar nehir boyunca yürüdük.",
        "En sevdiğim şarkı yine radyoda çalıyor.",
        "Şehre giden tren her sabah yedi buçukta kalkıyor.",
    ],
    "af": [
        "Die noordewind en die son het gestry oor wie van hulle die sterkste is.",
        "Bel my terug wanneer jy 'n oomblik het.",
        "Ons het langs die rivier geloop tot die ligte van die dorp aangaan.",
        "My gunstelingliedjie speel weer op die radio.",
    ],
    "la": [
        "Boreas et sol contendebant uter esset fortior.",
        "Puer in horto cum amicis ludit.",
        "Nauta aquam ex flumine portat.",
        "Cantate domino canticum novum.",
        "Sol lucet et aves in silva cantant.",
    ],
    "mi": [
        "Kia ora, kei te pēhea koe?",
        "Ka haere mātou ki te moana āpōpō.",
        "He pai te rangi i tēnei rā.",
        "Ka waiata ngā tamariki i te kura.",
    ],
    "ja": [
        "北風と太陽が、どちらが強いかで言い争っていました。",
        "時間があるときに電話をください。",
        "町の明かりがつくまで、川沿いを歩きました。",
        "好きな歌がまたラジオで流れています。",
        "毎朝七時半に電車が出ます。",
    ],
    "zh": [
        "北风和太阳在争论谁的本领大。",
        "你有空的时候请给我回个电话。",
        "我们沿着河边一直走到城里的灯亮起来。",
        "我最喜欢的歌又在收音机里播放了。",
        "去城里的火车每天早上七点半出发。",
    ],
    "ar": [
        "كانت ريح الشمال والشمس تتجادلان أيهما أقوى.",
        "اتصل بي عندما يكون لديك دقيقة.",
        "مشينا على طول النهر حتى أضاءت أنوار المدينة.",
        "أغنيتي المفضلة تذاع مرة أخرى في الراديو.",
    ],
    "he": [
        "רוח הצפון והשמש התווכחו מי מהם חזק יותר.",
        "תתקשר אליי כשיהיה לך רגע.",
        "הלכנו לאורך הנהר עד שהאורות של העיר נדלקו.",
        "השיר האהוב עליי מתנגן שוב ברדיו.",
    ],
    "fa": [
        "باد شمال و خورشید با هم بحث می‌کردند که کدام قوی‌تر است.",
        "هر وقت فرصت داشتی به من زنگ بزن.",
        "کنار رودخانه قدم زدیم تا چراغ‌های شهر روشن شد.",
        "آهنگ مورد علاقه‌ام دوباره از رادیو پخش می‌شود.",
    ],
    "hi": [
        "उत्तरी हवा और सूरज में बहस हो रही थी कि कौन ज़्यादा ताकतवर है।",
        "जब आपके पास एक मिनट हो तो मुझे फ़ोन कीजिए।",
        "हम नदी के किनारे तब तक चलते रहे जब तक शहर की बत्तियाँ नहीं जल गईं।",
        "मेरा पसंदीदा गाना फिर से रेडियो पर बज रहा है।",
    ],
    "te": [
        "ఉత్తర గాలి మరియు సూర్యుడు ఎవరు బలవంతులని వాదించుకున్నారు.",
        "మీకు ఒక నిమిషం సమయం ఉన్నప్పుడు నాకు ఫోన్ చేయండి.",
        "నాకు ఇష్టమైన పాట మళ్ళీ రేడియోలో వస్తోంది.",
    ],
    "el": [
        "Ο βοριάς κι ο ήλιος μάλωναν για το ποιος απ' τους δυο είναι ο δυνατότερος.",
        "Πάρε με τηλέφωνο όταν έχεις ένα λεπτό.",
        "Περπατήσαμε δίπλα στο ποτάμι μέχρι να ανάψουν τα φώτα της πόλης.",
        "Το αγαπημένο μου τραγούδι παίζει πάλι στο ραδιόφωνο.",
    ],
}

_ALIASES = {"en-us": "en", "en-uk": "en", "pt-br": "pt", "pt-pt": "pt", "es-es": "es",
            "es-mx": "es", "es-vz": "es", "fr-fr": "fr", "fr-ca": "fr", "fr-be": "fr",
            "ms": "id", "grc": "el"}

#: Languages whose espeak-ng voice reads Latin-script lyrics sensibly.
LATIN_SCRIPT = {"en", "de", "fr", "es", "it", "pt", "nl", "sv", "pl", "cs", "hr", "hu", "ro",
                "et", "lt", "is", "id", "tr", "af", "la", "mi"}

_VOCALISE = {
    "latin": ["la", "na", "ma", "da", "lo", "no", "mo", "le", "ne", "li", "a", "o"],
    "ja": ["ら", "な", "ま", "だ", "ろ", "の", "も", "あ", "お"],
    "zh": ["啦", "那", "妈", "哪", "喽", "诺", "啊", "哦"],
    "ar": ["لا", "نا", "ما", "دا", "لو", "نو"],
    "fa": ["لا", "نا", "ما", "دا", "لو", "نو"],
    "he": ["לה", "נה", "מה", "דה", "לו", "נו"],
    "hi": ["ला", "ना", "मा", "दा", "लो", "नो"],
    "te": ["లా", "నా", "మా", "దా", "లో", "నో"],
    "el": ["λα", "να", "μα", "ντα", "λο", "νο"],
}


def base_language(lang: str) -> str:
    """``"pt-br"`` -> ``"pt"``, ``"en-us"`` -> ``"en"`` (via the alias table)."""
    lang = lang.lower()
    if lang in _ALIASES:
        return _ALIASES[lang]
    return lang.split("-", 1)[0]


def sentences_for(lang: str) -> list[str]:
    """Spoken sentences for a voice language (English when nothing fits)."""
    return SENTENCES.get(base_language(lang), SENTENCES["en"])


def reads_latin(lang: str) -> bool:
    """True when the language's espeak-ng rules read Latin-script lyrics."""
    return base_language(lang) in LATIN_SCRIPT


def vocalise_syllables(lang: str) -> list[str]:
    """Neutral singing syllables (``la``, ``na``...) in the language's script."""
    return _VOCALISE.get(base_language(lang), _VOCALISE["latin"])
